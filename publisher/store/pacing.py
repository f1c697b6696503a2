"""One pace per target for every daemon on the database: the next free request slot is a row, taken atomically.

Each daemon paces its requests to a target at ``max_per_minute``; when several daemons share a queue, pacing
in each process alone would send N times the configured rate. So the slot is kept here: ``take_slot`` moves
the target's ``next_slot_us`` one interval on in a single ``UPDATE ... RETURNING`` (PostgreSQL locks the row
for the statement, SQLite's ``BEGIN IMMEDIATE`` serialises writers), and the caller waits until the slot it
got. Two callers can therefore never get the same slot, whichever host they run on. Slots are Unix time in
microseconds, so hosts must keep their clocks synchronised (NTP): a host whose clock is off by ``d`` sends up
to ``d`` early or late, it never takes another host's slot.

A target on hold (an operator pause, or a rate-limit hold learned from a 429 by any daemon) gives no slot.

A slot is a plan; what the network counts is when requests arrive. A request that leaves late (a garbage
collection, a slow commit, the first request's connection) and the next one on time are closer than one
interval, and a network counting a one-second window can see one request too many: that was the 1–2
refusals per 200 of the benchmark's pace. ``delay_slots`` moves the shared schedule on by the lateness of
the request that actually left late, so departures stay an interval apart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Connection, case, literal, or_, select, update

from publisher.store.engine import StoreBase
from publisher.store.schema import holds, pacing

_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


class PacingMixin(StoreBase):
    def take_slot(self, target: str, now: datetime, interval: float, max_wait: float) -> datetime | None:
        """Take the target's next request slot if it is at most ``max_wait`` seconds after ``now``.

        Returns None, taking nothing, when the next slot is further off or the target is on hold. ``now`` is
        the real time (slots are shared between hosts); the slot after the one returned is ``interval``
        seconds later, to the microsecond.
        """
        now_us = (now - _EPOCH) // _ONE_US
        step = max(1, round(interval * _US))
        horizon = now_us + round(max_wait * _US)
        start = case(
            (pacing.c.next_slot_us > now_us, pacing.c.next_slot_us), else_=literal(now_us, BigInteger)
        )
        grab = (
            update(pacing)
            .where(pacing.c.target == target, pacing.c.next_slot_us <= horizon)
            .values(next_slot_us=start + literal(step, BigInteger))
            .returning(pacing.c.next_slot_us)
        )
        first = self._insert(pacing).values(target=target, next_slot_us=now_us).on_conflict_do_nothing()

        def work(conn: Connection) -> datetime | None:
            if _held(conn, target, now):
                return None
            taken = conn.execute(grab).scalar()
            if taken is None:
                # No row yet (the target's first request ever), or the next slot is beyond the horizon.
                # Insert-if-missing, then try once more: a concurrent first insert is simply seen.
                conn.execute(first)
                taken = conn.execute(grab).scalar()
            return None if taken is None else _EPOCH + (int(taken) - step) * _ONE_US

        return self._write(work)

    def delay_slots(self, target: str, by: timedelta) -> None:
        """Move every free slot of ``target`` ``by`` later: a request left that late (see above).

        Slots already handed out keep their time. Shifting the whole free schedule, rather than restarting
        it one interval after the late request, keeps the pace right when other daemons hold the slots in
        between: any 21 consecutive departures still span 20 intervals.
        """
        late_us = max(0, by // _ONE_US)
        shift = (
            update(pacing)
            .where(pacing.c.target == target)
            .values(next_slot_us=pacing.c.next_slot_us + literal(late_us, BigInteger))
        )
        self._write(lambda conn: conn.execute(shift))


def _held(conn: Connection, target: str, now: datetime) -> bool:
    found = conn.execute(
        select(holds.c.target).where(
            holds.c.target == target, or_(holds.c.until.is_(None), holds.c.until > now)
        )
    ).first()
    return found is not None
