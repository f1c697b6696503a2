"""Target holds (operator pauses and rate-limit waits), alert incidents and daemon heartbeats.

State about targets and daemons rather than about one delivery; the claim query consults the holds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.exc import IntegrityError

from publisher.store.engine import StoreBase, append_event
from publisher.store.records import Heartbeat, Hold
from publisher.store.schema import heartbeats, holds, incidents


class UpkeepMixin(StoreBase):
    def hold_target(self, target: str, reason: str, now: datetime, *, until: datetime | None = None) -> bool:
        """Pause a target (``until`` None) or hold it until a time. Returns True when the hold is new."""

        def work(conn: Connection) -> bool:
            row = conn.execute(select(holds).where(holds.c.target == target)).one_or_none()
            if row is not None and row.until is None and until is not None:
                return False  # a pause outranks a rate-limit hold
            if row is None:
                conn.execute(holds.insert().values(target=target, reason=reason, since=now, until=until))
            else:
                conn.execute(update(holds).where(holds.c.target == target).values(reason=reason, until=until))
            new_pause = until is None and (row is None or row.until is not None)
            if new_pause or (row is None and until is not None):
                append_event(
                    conn,
                    now,
                    "paused" if until is None else "rate_limited",
                    target=target,
                    error=reason,
                    detail={"until": until.isoformat() if until else None},
                )
            return row is None or new_pause

        return self._write(work)

    def release_target(self, target: str, now: datetime, actor: str) -> bool:
        def work(conn: Connection) -> bool:
            gone = conn.execute(holds.delete().where(holds.c.target == target)).rowcount
            if gone:
                append_event(conn, now, "resumed", target=target, detail={"by": actor})
            return bool(gone)

        return self._write(work)

    def holds(self, now: datetime) -> list[Hold]:
        with self._read() as conn:
            rows = conn.execute(
                select(holds)
                .where(or_(holds.c.until.is_(None), holds.c.until > now))
                .order_by(holds.c.target)
            ).all()
        return [Hold(r.target, r.reason, r.since, r.until) for r in rows]

    # --- incidents and heartbeats ----------------------------------------------------------------

    def open_incident(self, key: str, now: datetime) -> bool:
        """True the first time an incident is opened (so exactly one alert goes out per incident)."""

        def work(conn: Connection) -> bool:
            row = conn.execute(select(incidents).where(incidents.c.key == key)).one_or_none()
            if row is None:
                conn.execute(incidents.insert().values(key=key, opened_at=now))
                return True
            if row.closed_at is not None:
                conn.execute(
                    update(incidents).where(incidents.c.key == key).values(opened_at=now, closed_at=None)
                )
                return True
            return False

        try:
            return self._write(work)
        except IntegrityError:
            return False

    def close_incident(self, key: str, now: datetime) -> None:
        self._write(
            lambda conn: conn.execute(
                update(incidents)
                .where(incidents.c.key == key, incidents.c.closed_at.is_(None))
                .values(closed_at=now)
            )
        )

    def heartbeat(
        self, daemon_id: str, now: datetime, *, host: str, pid: int, status: str, stopped: bool = False
    ) -> None:
        def work(conn: Connection) -> None:
            values = {"seen_at": now, "status": status, "stopped_at": now if stopped else None}
            changed = conn.execute(
                update(heartbeats).where(heartbeats.c.daemon_id == daemon_id).values(**values)
            )
            if changed.rowcount == 0:
                conn.execute(
                    heartbeats.insert().values(
                        daemon_id=daemon_id, host=host, pid=pid, started_at=now, **values
                    )
                )

        self._write(work)

    def heartbeats(self) -> list[Heartbeat]:
        with self._read() as conn:
            rows = conn.execute(select(heartbeats).order_by(heartbeats.c.seen_at.desc())).all()
        return [
            Heartbeat(r.daemon_id, r.host, r.pid, r.started_at, r.seen_at, r.stopped_at, r.status)
            for r in rows
        ]
