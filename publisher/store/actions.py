"""Settling in-doubt deliveries (reconciliation) and the operator's actions: retry, cancel, resolve.

Both are the same transaction: read one delivery, check that it is in a state the action applies to, apply the
change and log it. ``_transition`` is that transaction; the callers only say which states, what change and how a
mismatch is reported (reconciliation that raced with someone shrugs; an operator is told why).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from publisher.errors import StoreError
from publisher.models import Delivery, DeliveryState, RemoteRef
from publisher.store.engine import StoreBase, change_delivery
from publisher.store.records import Claim, delivery_from_row, load_delivery, load_post, source_key
from publisher.store.schema import deliveries

S = DeliveryState
# What a transition makes of the current row: the column values to set, the event status and its detail.
Change = tuple[dict[str, Any], str, dict[str, Any]]


class SettlementMixin(StoreBase):
    def in_doubt_due(self, now: datetime, limit: int = 50) -> list[Claim]:
        """In-doubt deliveries whose next reconciliation check is due."""
        with self._read() as conn:
            rows = conn.execute(
                select(deliveries)
                .where(deliveries.c.state == S.IN_DOUBT.value, deliveries.c.next_at <= now)
                .order_by(deliveries.c.next_at)
                .limit(limit)
            ).all()
            return [
                Claim(delivery_from_row(r, source_key(conn, r.post_id)), load_post(conn, r.post_id))
                for r in rows
            ]

    def settle_in_doubt(
        self,
        delivery_id: int,
        now: datetime,
        *,
        found: RemoteRef | None = None,
        requeue: bool = False,
        next_check: datetime | None = None,
        actor: str = "reconciliation",
        note: str = "",
    ) -> bool:
        """Record what reconciliation (or an operator) learnt about an in-doubt delivery."""

        def change(row: Row[Any]) -> Change:
            detail = {"by": actor, "note": note}
            if found is not None:
                return _published(found), "published", detail
            if requeue:
                return {"state": S.QUEUED.value, "next_at": now, "attempt_id": None}, "requeued", detail
            checked = {"next_at": next_check, "reconcile_checks": row.reconcile_checks + 1}
            return checked, "in_doubt_checked", detail

        return self._transition(delivery_id, now, (S.IN_DOUBT.value,), change, strict=False) is not None

    def retry(self, delivery_id: int, now: datetime, actor: str) -> Delivery:
        """A failed or in-doubt delivery back to the queue, due now, with a fresh attempt budget."""
        return self._operator_change(
            delivery_id,
            now,
            (S.FAILED.value, S.IN_DOUBT.value),
            {"state": S.QUEUED.value, "next_at": now, "attempts": 0, "attempt_id": None},
            "retried",
            {"by": actor},
        )

    def cancel(self, delivery_id: int, now: datetime, actor: str) -> Delivery:
        return self._operator_change(
            delivery_id,
            now,
            (S.QUEUED.value, S.RETRY_WAIT.value, S.FAILED.value, S.IN_DOUBT.value),
            {"state": S.CANCELLED.value, "next_at": None},
            "cancelled",
            {"by": actor},
        )

    def resolve(
        self, delivery_id: int, now: datetime, *, published_as: RemoteRef | None, actor: str
    ) -> Delivery:
        """An operator settles an in-doubt delivery: it was published (as this ref) or it was not."""
        if published_as is not None:
            values = _published(published_as)
        else:
            values = {"state": S.CANCELLED.value, "next_at": None}
        detail = {"by": actor, "published": published_as is not None}
        return self._operator_change(delivery_id, now, (S.IN_DOUBT.value,), values, "resolved", detail)

    def _operator_change(
        self,
        delivery_id: int,
        now: datetime,
        allowed: Collection[str],
        values: dict[str, Any],
        status: str,
        detail: dict[str, Any],
    ) -> Delivery:
        changed = self._transition(
            delivery_id, now, allowed, lambda _row: (values, status, detail), strict=True
        )
        assert changed is not None  # strict: a mismatch raised
        return changed

    def _transition(
        self,
        delivery_id: int,
        now: datetime,
        allowed: Collection[str],
        change: Callable[[Row[Any]], Change],
        *,
        strict: bool,
    ) -> Delivery | None:
        """Apply ``change`` to a delivery in one of the ``allowed`` states and log it; the delivery after it.

        A missing delivery, or one in another state, raises StoreError when ``strict``, else returns None.
        """

        def work(conn: Connection) -> Delivery | None:
            row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one_or_none()
            if row is None or row.state not in allowed:
                if not strict:
                    return None
                if row is None:
                    raise StoreError(f"delivery {delivery_id} does not exist: see 'publisher queue' for ids")
                raise StoreError(
                    f"delivery {delivery_id} is {row.state}; this action applies to {', '.join(sorted(allowed))} deliveries"
                )
            values, status, detail = change(row)
            change_delivery(conn, row, now, values, status, detail=detail)
            return load_delivery(conn, delivery_id, source_key(conn, row.post_id))

        return self._write(work)


def _published(ref: RemoteRef) -> dict[str, Any]:
    """The columns of a delivery settled as published as ``ref``."""
    return {
        "state": S.PUBLISHED.value,
        "remote_id": ref.remote_id,
        "remote_url": ref.url,
        "next_at": None,
        "last_error": None,
    }
