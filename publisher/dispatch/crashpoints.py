"""Named points where the crash-safety tests make the daemon die, to prove nothing is lost or doubled.

Armed only by ``PUBLISHER_TEST_CRASH_AT=<point>:<n>`` (die with SIGKILL the n-th time ``point`` is
reached). Unarmed — always, in production — a point costs one comparison. SIGKILL, not an exception:
no ``finally`` block, no atexit hook and no buffered write gets a chance to tidy up, as in a power cut.
"""

from __future__ import annotations

import os
import signal
import threading

POINTS = ("after_claim", "before_send", "after_send", "after_record")

_spec = os.environ.get("PUBLISHER_TEST_CRASH_AT", "")
_name, _, _count = _spec.partition(":")
_remaining = int(_count) if _count.isdigit() else 1
_lock = threading.Lock()


def crashpoint(name: str) -> None:
    """Die here if armed for this point and its turn has come."""
    global _remaining
    if not _name or name != _name:
        return
    with _lock:
        _remaining -= 1
        if _remaining > 0:
            return
    os.kill(os.getpid(), signal.SIGKILL)
