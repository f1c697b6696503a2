"""Figures the network fakes show for their posts: they grow at every read, and the last served are kept.

Each fake answers its network's metrics endpoint from one ``FigureBook``; tests compare what the service
recorded with ``served`` (the figures of the newest answer per post id).
"""

from __future__ import annotations

import threading


class FigureBook:
    """Per post id: views, likes, reposts and comments that grow between reads, deterministically."""

    def __init__(self) -> None:
        self.reads: dict[str, int] = {}
        self.served: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()

    def read(self, post_id: str) -> dict[str, int]:
        with self._lock:
            n = self.reads[post_id] = self.reads.get(post_id, 0) + 1
            seed = sum(ord(c) for c in post_id) % 50
            figures = {
                "views": 100 + seed * 10 + 37 * n,
                "likes": 3 + seed % 7 + 2 * n,
                "reposts": seed % 3 + n,
                "comments": n // 2,
            }
            self.served[post_id] = figures
            return dict(figures)
