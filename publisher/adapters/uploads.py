"""The time one post's media uploads may take, and the daemon's stop, seen between two upload steps.

A video upload is many requests (X: initialize, an append per segment, finalize, then status reads while X
processes the file; Facebook: a transfer per chunk). Each request is bounded by the session's timeouts; this
bounds the whole (``timeouts.upload``), and lets a stopping daemon end the upload between two steps: the
post was not sent yet, so the claim is released cleanly (``UploadInterrupted``) rather than left to expire.
Waiting for a network's processing (X's ``check_after_secs``) is the one wait an adapter makes: it is not a
rate-limit wait, it is part of the upload, and it ends at once when the daemon stops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from publisher.errors import PublishError, TransientError, UploadInterrupted

#: Builds an error with the adapter's network and target (``Adapter.error``).
ErrorFactory = Callable[[type[PublishError], str], PublishError]


@dataclass
class UploadBudget:
    """One post's uploads: a deadline (monotonic seconds) and the event that says the service stops."""

    seconds: float
    error: ErrorFactory
    stop: threading.Event = field(default_factory=threading.Event)
    deadline: float = 0.0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.seconds

    def step(self, what: str) -> None:
        """Before the next upload request: raise if the service stops or the upload ran out of time."""
        if self.stop.is_set():
            raise self.error(UploadInterrupted, f"the service is stopping ({what}); nothing was published")
        if time.monotonic() >= self.deadline:
            message = (
                f"the media upload took longer than {self.seconds:.0f} s ({what}); nothing was published"
            )
            raise self.error(TransientError, message)

    def wait(self, seconds: float, what: str) -> None:
        """Wait ``seconds`` (the network's processing) unless the service stops or time runs out first."""
        self.step(what)
        left = self.deadline - time.monotonic()
        if self.stop.wait(max(0.0, min(seconds, left))) or seconds >= left:
            self.step(what)  # stopped, or the deadline passed while waiting
