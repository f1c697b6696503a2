"""What the crash tests share: who holds which delivery, when a dead daemon's work counts as recovered.

A killed daemon's deliveries are *recovered* once its attempt no longer holds them: queued again, published,
or in doubt and looked up at least once (Telegram cannot be searched: a look-up that cannot tell still
counts, the operator has been alerted). ``Recovery`` watches every kill on a thread and records how long that
took.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from publisher.models import DeliveryState
from publisher.store import Store
from publisher.store.schema import deliveries, events
from tests.daemon_helpers import DaemonProcess
from tests.fakes.network import NetworkFake

S = DeliveryState


@dataclass
class Pending:
    """Deliveries a killed daemon held at the moment it died, and when it died."""

    killed_at: float
    attempts: dict[int, str]  # delivery id -> the dead daemon's attempt id
    recovered_at: float | None = None


@dataclass
class Recovery:
    """Watches every kill's deliveries until each is recovered; records how long that took."""

    store: Store
    pending: list[Pending] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)

    def add(self, item: Pending) -> None:
        with self.lock:
            self.pending.append(item)

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                open_items = [p for p in self.pending if p.recovered_at is None]
            for item in open_items:
                if all(recovered(self.store, d, a) for d, a in item.attempts.items()):
                    item.recovered_at = time.monotonic()
            self.stop.wait(0.1)

    def times(self) -> list[float]:
        with self.lock:
            return [p.recovered_at - p.killed_at for p in self.pending if p.recovered_at is not None]

    def unrecovered(self) -> list[Pending]:
        with self.lock:
            return [p for p in self.pending if p.recovered_at is None]


def recovered(store: Store, delivery_id: int, attempt: str) -> bool:
    """The dead attempt no longer holds the delivery, and if it was left in doubt it has been looked up."""
    with store.engine.connect() as conn:
        row = conn.execute(
            select(deliveries.c.state, deliveries.c.attempt_id).where(deliveries.c.id == delivery_id)
        ).one()
        if row.attempt_id != attempt or row.state not in (S.PUBLISHING.value, S.IN_DOUBT.value):
            return True
        if row.state == S.PUBLISHING.value:
            return False
        checked = conn.execute(
            select(events.c.id).where(
                events.c.delivery_id == delivery_id, events.c.status == "in_doubt_checked"
            )
        ).first()
        return checked is not None


def in_flight(store: Store) -> dict[str, dict[int, str]]:
    """worker -> {delivery id: attempt id} of the deliveries each daemon holds (``publishing``)."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.id, deliveries.c.attempt_id, deliveries.c.claimed_by).where(
                deliveries.c.state == S.PUBLISHING.value
            )
        ).all()
    held: dict[str, dict[int, str]] = {}
    for row in rows:
        held.setdefault(row.claimed_by, {})[row.id] = row.attempt_id
    return held


def worker_of(daemon: DaemonProcess) -> str:
    return f"{socket.gethostname()}:{daemon.proc.pid}"


def markers_at(fake: NetworkFake, markers: list[str]) -> Counter[str]:
    """How many posts carrying each marker the fake created (from the requests it applied)."""
    seen: Counter[str] = Counter()
    for body in fake.created_texts():
        for marker in markers:
            if marker in body:
                seen[marker] += 1
    return seen
