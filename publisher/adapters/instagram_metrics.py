"""Instagram's figures of published media, for its adapter's ``read_metrics``.

Likes and comments come from one multiple-id read (``GET /?ids=a,b,c&fields=like_count,comments_count``, at
most 50 ids), then media insights ``views``, ``reach``, ``shares`` from a second (they need
instagram_manage_insights): .../instagram-graph-api/reference/ig-media/insights. A multiple-id read answers
one error object for the whole request when one id in it is unknown (a deleted media: code 100; an alias
that is no id at all, like a shortcode: code 803), so such a refusal reads each media alone
(``graph.read_each_alone``); the collector keeps shortcodes out of a batch (``metrics/heal.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from publisher import errors
from publisher.adapters.answers import count, data_excerpt
from publisher.adapters.graph import read_each_alone
from publisher.models import RemoteRef, Snapshot

if TYPE_CHECKING:
    from publisher.adapters.base import Adapter

COUNTS, INSIGHTS = "like_count,comments_count", "insights.metric(views,reach,shares)"


def read_figures(
    adapter: Adapter,
    read: Callable[[dict[str, str]], dict[str, Any]],
    refs: Sequence[RemoteRef],
    now: datetime,
) -> dict[str, Snapshot]:
    """The snapshots Instagram gave, by media id; ``read(params)`` is one ``GET /`` of the Graph API."""
    ids = ",".join(r.remote_id for r in refs)
    try:
        counts = read({"ids": ids, "fields": COUNTS})
    except (errors.AuthError, errors.TransientError):
        raise
    except errors.PermanentError as exc:  # one unknown id refuses the whole read
        return read_each_alone(adapter, refs, now, exc)
    try:
        seen = read({"ids": ids, "fields": INSIGHTS})
        why = "views: Instagram gave no insights for this media"
    except errors.TransientError:
        raise
    except errors.PermanentError as exc:
        seen, why = {}, f"views: media insights are not readable with this token ({exc})"
    return {r.remote_id: snap for r in refs if (snap := snapshot(r.remote_id, counts, seen, why, now))}


def snapshot(
    media_id: str, counts: dict[str, Any], seen: dict[str, Any], why: str, now: datetime
) -> Snapshot | None:
    """One media's figures from the two multiple-id reads (``like_count``/``comments_count``, and the
    insights ``views``, ``reach``, ``shares``); None when Instagram did not return the media."""
    item = counts.get(media_id)
    if not isinstance(item, dict):
        return None
    node = seen.get(media_id)
    insights = node.get("insights") if isinstance(node, dict) else None
    data = insights.get("data") if isinstance(insights, dict) else None
    values: dict[str, int | None] = {}
    for metric in data if isinstance(data, list) else []:
        if isinstance(metric, dict):
            points = metric.get("values")
            last = points[-1] if isinstance(points, list) and points else metric.get("total_value")
            values[str(metric.get("name"))] = count(last, "value")
    return Snapshot(
        media_id,
        now,
        views=values.get("views"),
        likes=count(item, "like_count"),
        reposts=values.get("shares"),
        comments=count(item, "comments_count"),
        reach=values.get("reach"),
        reason="" if values else why,
        raw=data_excerpt({"media": item, "insights": values}),
    )
