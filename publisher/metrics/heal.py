"""Published deliveries recorded under a key no API call reads, given their id before their figures are asked.

Until ``resolve --published-as`` looked Instagram ids up, it stored the shortcode of a post address
(``/p/<shortcode>/``) as the remote id. The Graph API reads media by their numeric id only, and a
multiple-id read (``GET /?ids=a,b,c``) answers one error object for the whole request when any alias in it
does not exist (``(#803) Some of the aliases you requested do not exist: <alias>``), so one such id in a
batch of 50 cost a read of each of the 50 alone, every round, and the post itself never had figures.

Such a delivery (``PublishedForm.misrecorded``) is kept out of the batch: its id is looked up from its
recorded address (``Adapter.find_published``, as ``resolve`` does) and recorded in the store with an
``id_corrected`` event that ``publisher show ID`` prints; then its figures are read with the others. When the
lookup finds nothing it is left out with one operator log line naming the delivery and the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from publisher.adapters.base import Adapter
from publisher.adapters.published import PostAddress
from publisher.errors import AccountError, PermanentError, PublishError
from publisher.ops.redact import scrub
from publisher.store import MetricsRow, Store

log = logging.getLogger("publisher.metrics")

#: who the ``id_corrected`` event names
ACTOR = "metrics collection"


@dataclass
class Healing:
    """What is left to read (corrected rows under their new id) and what could not be: row and reason."""

    rows: list[MetricsRow] = field(default_factory=list)
    unreadable: list[tuple[MetricsRow, str]] = field(default_factory=list)
    corrected: int = 0


def heal(
    store: Store, adapter: Adapter, rows: Sequence[MetricsRow], clock: Callable[[], datetime]
) -> Healing:
    """``rows`` with each misrecorded remote id looked up and corrected in the store.

    A delivery whose post is not found (or whose lookup Instagram refuses) is ``unreadable``, with a reason
    that names the fix; one whose lookup fails for now (a 5xx, a rate limit) is left out of this round
    only. Raises ``AccountError`` (the caller pauses the target, as for a metrics read).
    """
    form = adapter.profile.published
    done = Healing()
    for row in rows:
        was = row.remote_id or ""
        if form is None or not form.misrecorded(was):
            done.rows.append(row)
            continue
        key = (form.key_of(row.url) if row.url and "://" in row.url else None) or was
        fix = f"fix: publisher resolve {row.delivery_id} --published-as <media id> ({form.lookup_fix})"
        try:
            found = adapter.find_published(PostAddress(key, row.url or was))
        except AccountError:
            raise
        except PermanentError as exc:
            why = f"{adapter.profile.title} refused the lookup ({exc})"
            done.unreadable.append((row, _skipped(adapter, row, why, fix)))
            continue
        except PublishError as exc:
            _skipped(adapter, row, f"the lookup failed for now ({exc}); it is tried again next round", fix)
            continue
        if found is None:
            why = "its post was not found among the account's newest posts"
            done.unreadable.append((row, _skipped(adapter, row, why, fix)))
            continue
        note = (
            f"{was!r} was recorded as its id, a post address's key no API call reads; its id "
            f"{found.remote_id} was looked up from {row.url or was}"
        )
        if store.correct_remote_id(row.delivery_id, clock(), was=was, ref=found, actor=ACTOR, note=note):
            done.corrected += 1
            log.info(
                "metrics: delivery %d (%s): %s",
                row.delivery_id,
                row.target,
                note,
                extra={"event": "metrics_id_corrected", "target": row.target},
            )
            done.rows.append(replace(row, remote_id=found.remote_id, url=found.url or row.url))
        # else: corrected or settled meanwhile by someone else; its figures come next round
    return done


def _skipped(adapter: Adapter, row: MetricsRow, why: str, fix: str) -> str:
    """Log the one line an operator reads for a delivery left out; the reason its snapshot keeps."""
    title = adapter.profile.title
    reason = scrub(f"{row.remote_id!r} is an address's key, not an id {title} reads, and {why}; {fix}")
    log.warning(
        "metrics: delivery %d (%s) skipped: %s",
        row.delivery_id,
        row.target,
        reason,
        extra={"event": "metrics_id_unknown", "target": row.target},
    )
    return reason
