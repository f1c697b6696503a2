"""One adapter per target, built on first use and kept for the daemon's lifetime (HTTP keep-alive)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from publisher.adapters import build_adapter
from publisher.adapters.base import Adapter
from publisher.settings import Settings


class AdapterPool:
    """One adapter per target, built on first use and kept (HTTP keep-alive, cached lookups)."""

    def __init__(
        self, settings: Settings, factory: Callable[[Settings, str], Adapter] = build_adapter
    ) -> None:
        self.settings = settings
        self.factory = factory
        self._adapters: dict[str, Adapter] = {}
        self._lock = threading.Lock()

    def get(self, target: str) -> Adapter:
        with self._lock:
            if target not in self._adapters:
                self._adapters[target] = self.factory(self.settings, target)
            return self._adapters[target]

    def reset(self, settings: Settings | None = None) -> None:
        """Forget the adapters (a lane may still be using one: it is not closed under its feet)."""
        with self._lock:
            self._adapters.clear()
            if settings is not None:
                self.settings = settings
