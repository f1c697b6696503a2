"""Network adapters: one explicit table from network name to its module (no plugin discovery).

Adding a network = one module ``publisher/adapters/<name>.py`` (its ``PROFILE`` and its ``Adapter``
subclass) + one line in ``ADAPTERS`` + its settings declaration. See docs/adding-a-network.md.

This package's ``__init__`` imports nothing heavy: ``publisher.models`` derives ``NETWORKS`` from the
table, and a network's module (with its client library) is imported only when that network is first used.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from publisher.errors import ConfigurationError

if TYPE_CHECKING:
    from publisher.adapters.base import Adapter
    from publisher.adapters.profile import NetworkProfile
    from publisher.settings import Settings

#: network -> "module:Class", in display order.
ADAPTERS: dict[str, str] = {
    "vk": "publisher.adapters.vk:VkAdapter",
    "x": "publisher.adapters.x:XAdapter",
    "facebook": "publisher.adapters.facebook:FacebookAdapter",
    "telegram": "publisher.adapters.telegram:TelegramAdapter",
    "instagram": "publisher.adapters.instagram:InstagramAdapter",
}


def _module(network: str) -> tuple[ModuleType, str]:
    try:
        module_name, class_name = ADAPTERS[network].split(":")
    except KeyError:
        raise ConfigurationError(
            f"no adapter for network {network!r}; known: {', '.join(ADAPTERS)}"
        ) from None
    return importlib.import_module(module_name), class_name


def adapter_class(network: str) -> type[Adapter]:
    module, class_name = _module(network)
    cls: type[Adapter] = getattr(module, class_name)
    return cls


#: network -> its PROFILE, once looked up (a profile is a module constant)
_PROFILES: dict[str, NetworkProfile] = {}


def profile_of(network: str) -> NetworkProfile:
    """The network's ``PROFILE``. Raises ``ConfigurationError`` for a network not in the table.

    Kept after the first look-up: the composer asks twice for every delivery, and ``import_module`` on an
    imported module still costs ~4 µs.
    """
    profile = _PROFILES.get(network)
    if profile is None:
        profile = _PROFILES[network] = _module(network)[0].PROFILE
    return profile


def build_adapter(settings: Settings, target: str) -> Adapter:
    """The adapter for one target: the dry-run stand-in when dry-run applies, else the network's own.

    Raises ``ConfigurationError`` naming the variables to set when the target's credentials are missing.
    """
    from publisher.adapters.dryrun import DryRunAdapter
    from publisher.models import network_of
    from publisher.settings import target_variable

    section = settings.target(target)
    if settings.is_dry_run(target):
        return DryRunAdapter(target, section)
    missing = section.credentials_missing()
    if missing:
        names = ", ".join(target_variable(target, m) for m in missing)
        raise ConfigurationError(f"target {target} is not configured: set {names} (or enable dry run)")
    return adapter_class(network_of(target))(target, section)


__all__ = ["ADAPTERS", "adapter_class", "build_adapter", "profile_of"]
