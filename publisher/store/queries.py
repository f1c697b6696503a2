"""Reading the queue for the operator, the daemon's status and tests: posts, deliveries, counts, the log."""

from __future__ import annotations

from collections.abc import Collection
from typing import Unpack

from sqlalchemy import and_, func, select

from publisher.models import Delivery, DeliveryState, Event, Post
from publisher.store.engine import StoreBase
from publisher.store.interface import DeliveryFilter, EventFilter
from publisher.store.records import delivery_from_row, event_from_row, post_from_row, source_key
from publisher.store.schema import deliveries, events, posts


class ReadingMixin(StoreBase):
    def get_post(self, post_id: int) -> Post | None:
        with self._read() as conn:
            row = conn.execute(select(posts).where(posts.c.id == post_id)).one_or_none()
        return post_from_row(row) if row else None

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        with self._read() as conn:
            row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one_or_none()
            return delivery_from_row(row, source_key(conn, row.post_id)) if row else None

    def deliveries(self, **where: Unpack[DeliveryFilter]) -> list[Delivery]:
        states, post_id, limit = where.get("states"), where.get("post_id"), where.get("limit")
        with self._read() as conn:
            query = select(deliveries, posts.c.source_key).join(posts, posts.c.id == deliveries.c.post_id)
            if states:
                query = query.where(deliveries.c.state.in_([s.value for s in states]))
            if post_id is not None:
                query = query.where(deliveries.c.post_id == post_id)
            query = query.order_by(func.coalesce(deliveries.c.next_at, deliveries.c.due_at), deliveries.c.id)
            if limit:
                query = query.limit(limit)
            return [delivery_from_row(r, r.source_key) for r in conn.execute(query)]

    def last_event_id(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.max(events.c.id))).scalar() or 0)

    def counts_by_state(
        self, states: Collection[DeliveryState] | None = None, *, at_most: int | None = None
    ) -> dict[str, int]:
        """Deliveries per state; with ``states``, only those, counted through the state index.

        The daemon's heartbeat counts only unfinished work this way, so its cost does not grow with the
        history of published posts, and with ``at_most`` it stops counting a state there (it reports "N+"),
        so it does not grow with the queue either; ``publisher status`` asks for every state, in full.
        """
        wanted = DeliveryState if states is None else states
        counts = {s.value: 0 for s in wanted}
        with self._read() as conn:
            if at_most is None:
                query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
                if states is not None:
                    query = query.where(deliveries.c.state.in_([s.value for s in states]))
                counts.update({r[0]: int(r[1]) for r in conn.execute(query).all()})
                return counts
            for state in wanted:
                first = select(deliveries.c.id).where(deliveries.c.state == state.value).limit(at_most)
                counts[state.value] = int(
                    conn.execute(select(func.count()).select_from(first.subquery())).scalar() or 0
                )
        return counts

    def events(self, **where: Unpack[EventFilter]) -> list[Event]:
        """The publish log, oldest first (``after_id``: only events appended after that one)."""
        since, target, status = where.get("since"), where.get("target"), where.get("status")
        post_id, delivery_id, after_id = where.get("post_id"), where.get("delivery_id"), where.get("after_id")
        limit, newest_first = where.get("limit"), where.get("newest_first", False)
        with self._read() as conn:
            query = select(events)
            conditions = []
            if after_id is not None:
                conditions.append(events.c.id > after_id)
            if since is not None:
                conditions.append(events.c.time >= since)
            if target is not None:
                conditions.append(events.c.target == target)
            if status is not None:
                conditions.append(events.c.status == status)
            if post_id is not None:
                conditions.append(events.c.post_id == post_id)
            if delivery_id is not None:
                conditions.append(events.c.delivery_id == delivery_id)
            if conditions:
                query = query.where(and_(*conditions))
            order = events.c.id.desc() if newest_first or limit else events.c.id
            query = query.order_by(order)
            if limit:
                query = query.limit(limit)
            rows = conn.execute(query).all()
        found = [event_from_row(r) for r in rows]
        return list(reversed(found)) if (limit and not newest_first) else found
