"""Settling in-doubt deliveries (reconciliation) and the operator's actions: retry, cancel, resolve; and the
correction of a published delivery's remote id recorded in a form no API call accepts.

Both are the same transaction: read one delivery, check that it is in a state the action applies to, apply the
change and log it. ``_transition`` is that transaction; the callers only say which states, what change and how a
mismatch is reported (reconciliation that raced with someone shrugs; an operator is told why).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import Connection, Row, select, update

from publisher.errors import StoreError
from publisher.models import Delivery, DeliveryState, RemoteRef
from publisher.store.engine import StoreBase, change_delivery, close_delivery_incidents, log_delivery
from publisher.store.interface import Verdict
from publisher.store.records import Claim, delivery_from_row, load_delivery, load_post, source_key
from publisher.store.schema import deliveries

S = DeliveryState
# What a transition makes of the current row: the column values to set, the event status and its detail.
Change = tuple[dict[str, Any], str, dict[str, Any]]
#: The states ``resolve`` applies to.
RESOLVABLE = (S.IN_DOUBT.value,)


def not_applicable(delivery_id: int, state: str, allowed: Collection[str]) -> StoreError:
    """The refusal of an operator's action on a delivery in another state (the CLI says it before any network
    call too, in the same words)."""
    return StoreError(
        f"delivery {delivery_id} is {state}; this action applies to {', '.join(sorted(allowed))} deliveries"
    )


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

    def settle_in_doubt(self, delivery_id: int, now: datetime, **verdict: Unpack[Verdict]) -> bool:
        """Record what reconciliation learnt about an in-doubt delivery, checked under ``attempt_id``.

        Fenced: when the delivery is no longer in doubt under that attempt (another daemon settled it, or
        it was re-sent and is in doubt again under a newer attempt) the stale verdict changes nothing and
        False is returned. Never raises for a mismatch; StoreError when the database fails.
        """
        attempt_id, found, next_check = verdict["attempt_id"], verdict.get("found"), verdict.get("next_check")
        requeue, actor, note = (
            verdict.get("requeue", False),
            verdict.get("actor", "reconciliation"),
            verdict.get("note", ""),
        )

        def change(row: Row[Any]) -> Change:
            detail = {"by": actor, "note": note}
            if found is not None:
                return _published(found), "published", detail
            if requeue:
                return {"state": S.QUEUED.value, "next_at": now, "attempt_id": None}, "requeued", detail
            checked = {"next_at": next_check, "reconcile_checks": row.reconcile_checks + 1}
            return checked, "in_doubt_checked", detail

        changed = self._transition(
            delivery_id, now, (S.IN_DOUBT.value,), change, strict=False, attempt_id=attempt_id
        )
        return changed is not None

    def retry(self, delivery_id: int, now: datetime, actor: str) -> Delivery:
        """A failed or in-doubt delivery back to the queue, due now, with a fresh attempt budget.

        Closes the delivery's incidents in the same transaction: a new failure alerts again.
        """
        return self._operator_change(
            delivery_id,
            now,
            (S.FAILED.value, S.IN_DOUBT.value),
            {"state": S.QUEUED.value, "next_at": now, "attempts": 0, "attempt_id": None},
            "retried",
            {"by": actor},
        )

    def cancel(self, delivery_id: int, now: datetime, actor: str) -> Delivery:
        """A delivery that has not been published will not be: waiting, failed or in doubt -> cancelled.

        Closes the delivery's incidents in the same transaction.
        """
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
        """An operator settles an in-doubt delivery: it was published (as this ref) or it was not.

        Closes the delivery's incidents in the same transaction.
        """
        if published_as is not None:
            values = _published(published_as)
        else:
            values = {"state": S.CANCELLED.value, "next_at": None}
        detail = {"by": actor, "published": published_as is not None}
        return self._operator_change(delivery_id, now, RESOLVABLE, values, "resolved", detail)

    def correct_remote_id(
        self, delivery_id: int, now: datetime, *, was: str, ref: RemoteRef, actor: str, note: str
    ) -> bool:
        """A published delivery recorded as ``was`` (a key no API call reads: an Instagram shortcode) gets the
        remote id of ``ref`` (and its URL, when it has one), logged as ``id_corrected`` with ``note``.

        Fenced on the state and on ``was``: False, changing nothing, when the delivery is no longer published
        under that id (corrected meanwhile by another daemon or the operator).
        """

        def work(conn: Connection) -> bool:
            query = select(deliveries).where(deliveries.c.id == delivery_id)
            row = conn.execute(self._locking(query, skip_locked=False)).one_or_none()
            if row is None or row.state != S.PUBLISHED.value or row.remote_id != was:
                return False
            url = ref.url or row.remote_url
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == row.id, deliveries.c.remote_id == was)
                .values(remote_id=ref.remote_id, remote_url=url, updated_at=now)
            )
            # The URL goes into the detail, so ``publisher show`` prints the note (it prefers an event's URL).
            detail = {"by": actor, "was": was, "url": url, "reason": note}
            log_delivery(conn, now, "id_corrected", row, remote_id=ref.remote_id, detail=detail)
            return True

        return self._write(work)

    def _operator_change(
        self,
        delivery_id: int,
        now: datetime,
        allowed: Collection[str],
        values: dict[str, Any],
        status: str,
        detail: dict[str, Any],
    ) -> Delivery:
        """An operator's command: applies to ``allowed`` states, else StoreError says why; closes incidents."""
        changed = self._transition(
            delivery_id,
            now,
            allowed,
            lambda _row: (values, status, detail),
            strict=True,
            close_incidents=True,
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
        attempt_id: str | None = None,
        close_incidents: bool = False,
    ) -> Delivery | None:
        """Apply ``change`` to a delivery in one of the ``allowed`` states and log it; the delivery after it.

        The row is locked while the change is decided and the update is fenced on the state and attempt it
        was read in. ``attempt_id`` (when given) must be the delivery's current attempt. A missing delivery,
        or one in another state, raises StoreError when ``strict``, else returns None.
        """

        def work(conn: Connection) -> Delivery | None:
            query = select(deliveries).where(deliveries.c.id == delivery_id)
            row = conn.execute(self._locking(query, skip_locked=False)).one_or_none()
            stale = row is not None and attempt_id is not None and row.attempt_id != attempt_id
            if row is None or row.state not in allowed or stale:
                if not strict:
                    return None
                if row is None:
                    raise StoreError(f"delivery {delivery_id} does not exist: see 'publisher queue' for ids")
                raise not_applicable(delivery_id, row.state, allowed)
            values, status, detail = change(row)
            if not change_delivery(conn, row, now, values, status, detail=detail):
                raise StoreError(f"delivery {delivery_id} changed under a lock: nothing was done")
            if close_incidents:
                close_delivery_incidents(conn, delivery_id, now)
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
