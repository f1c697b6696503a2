"""What the Graph API adapters (Facebook Page, Instagram) share: reading an answer, throttling headers, and
the mapping of Graph error codes to the error tree, each network adding its own codes (``GraphCodes``).

Errors are ``{"error": {"message", "type", "code", "error_subcode", "is_transient", "fbtrace_id"}}``
(https://developers.facebook.com/docs/graph-api/guides/error-handling); throttling codes and the usage
headers (X-Business-Use-Case-Usage, X-Page-Usage, X-App-Usage) are in
https://developers.facebook.com/docs/graph-api/overview/rate-limiting. Throttled calls "will fail": nothing
was applied. Graph has no idempotency key: an in-doubt post is found by ``reconcile``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import requests

from publisher import errors
from publisher.adapters.answers import retry_after
from publisher.models import RemoteRef, Snapshot

if TYPE_CHECKING:
    from publisher.adapters.base import Adapter

#: 4 app, 17 user, 32 Page, 341 app limit, 613 endpoint; 800xx are Business Use Case throttles.
RATE_SCOPES = {4: "app", 17: "account", 32: "page", 341: "app", 613: "endpoint"}
AUTH_TOKEN = {190, 102, 2500}  # token expired / invalid / session gone
AUTH_PERMISSION = {3, 10, *range(200, 300)}  # capability or permission missing


@dataclass(frozen=True)
class GraphCodes:
    """One network's reading of Graph errors: what to tell the operator, and its own codes.

    ``token_fix`` and ``permission_fix`` may name ``{variable}``, the token's settings variable
    (``token_field``). ``rejected`` maps a subcode or a code to a refusal of this post (with what to do);
    ``rate`` maps further codes or subcodes to a throttling scope; ``transient`` lists subcodes that mean
    "not applied, try again"; ``throttle_scope`` names who Business Use Case throttles (800xx) count.
    """

    token_field: str
    token_fix: str
    permission_fix: str
    rejected: Mapping[int, str] = field(default_factory=dict)
    rate: Mapping[int, str] = field(default_factory=dict)
    transient: frozenset[int] = frozenset()
    throttle_scope: str = "page"


def graph_success(
    adapter: Adapter, response: requests.Response, codes: GraphCodes, *, unsafe: bool
) -> dict[str, Any]:
    """The JSON object of a 2xx answer, or the error its status and Graph error code mean."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if 200 <= response.status_code < 300 and isinstance(body, dict) and not error:
        return body
    if isinstance(error, dict):
        raise graph_error(adapter, response, error, codes, unsafe=unsafe)
    # No Graph error object: a proxy's answer, or a body we cannot read.
    kw: dict[str, Any] = {"status": response.status_code, "excerpt": adapter.excerpt(response)}
    if response.status_code == 429:
        wait = usage_wait(response)
        raise adapter.error(errors.RateLimited, f"too many requests{wait_text(wait)}", retry_after=wait, **kw)
    if response.status_code >= 500 or 200 <= response.status_code < 300:
        raise adapter.unsure(unsafe, "malformed JSON" if body is None else "an unexpected answer", **kw)
    raise adapter.error(errors.PermanentError, "the request was refused", **kw)


def graph_error(
    adapter: Adapter,
    response: requests.Response,
    error: Mapping[str, Any],
    codes: GraphCodes,
    *,
    unsafe: bool,
) -> errors.PublishError:
    """The error class (and the words for the operator) of one Graph error object."""
    code, subcode = as_int(error.get("code")), as_int(error.get("error_subcode"))
    said = f"{adapter.clean_text(str(error.get('message') or ''))[:200]} (error {code})"
    user_message = adapter.clean_text(str(error.get("error_user_msg") or ""))[:200]
    if user_message:
        said = f"{said}: {user_message}"
    kw: dict[str, Any] = {
        "status": response.status_code,
        "code": code if subcode is None else f"{code}/{subcode}",
        "excerpt": adapter.excerpt(response),
    }
    known = [c for c in (subcode, code) if c is not None]
    rejected = next((codes.rejected[c] for c in known if c in codes.rejected), None)
    if rejected is not None:
        return adapter.error(errors.ContentRejected, f"{rejected}: {said}", **kw)
    scope = next((s for c in known for s in (codes.rate.get(c), RATE_SCOPES.get(c)) if s), None)
    if scope is None and code is not None and 80000 <= code <= 80099:
        scope = codes.throttle_scope
    if scope is not None:
        wait = usage_wait(response)
        message = f"request limit reached{wait_text(wait)}: {said}"
        return adapter.error(errors.RateLimited, message, retry_after=wait, scope=scope, **kw)
    variable = adapter.variable(codes.token_field)
    if code in AUTH_TOKEN:
        return adapter.error(errors.AuthError, f"{codes.token_fix.format(variable=variable)}: {said}", **kw)
    if code in AUTH_PERMISSION:
        fix = codes.permission_fix.format(variable=variable)
        return adapter.error(errors.AuthError, f"{fix}: {said}", **kw)
    if subcode in codes.transient:
        return adapter.error(errors.TransientError, f"a temporary failure: {said}", **kw)
    if error.get("is_transient") is True or code in (1, 2) or response.status_code >= 500:
        # The guide says "wait and retry" for these but never that the request was not applied,
        # so after a publishing POST the post may exist: in doubt.
        return adapter.unsure(unsafe, f"a temporary failure: {said}", **kw)
    return adapter.error(errors.PermanentError, f"the request was refused: {said}", **kw)


def graph_pages(read: Callable[[dict[str, str]], dict[str, Any]], params: dict[str, str]) -> Iterator[Any]:
    """The items of an edge, page after page: ``read(params)`` is one GET, then ``after`` is the next
    page's cursor while ``paging.next`` is given (https://developers.facebook.com/docs/graph-api/results)."""
    while True:
        body = read(params)
        items = body.get("data")
        yield from items if isinstance(items, list) else []
        paging = body.get("paging")
        paging = paging if isinstance(paging, dict) else {}
        cursors = paging.get("cursors")
        after = cursors.get("after") if isinstance(cursors, dict) else None
        if not items or not paging.get("next") or not isinstance(after, str):
            return
        params = {**params, "after": after}


def read_each_alone(
    adapter: Adapter, refs: Sequence[RemoteRef], now: datetime, refused: errors.PublishError
) -> dict[str, Snapshot]:
    """A multiple-id read refused as a whole, most often for one id Graph no longer knows (error 100, a
    deleted post): each post is read alone, and the one refused is unavailable with the reason."""
    if len(refs) > 1:
        return {s.remote_id: s for r in refs for s in adapter.fetch_metrics([r])}
    return {refs[0].remote_id: Snapshot(refs[0].remote_id, now, available=False, reason=str(refused))}


def usage_wait(response: requests.Response) -> float | None:
    """Seconds to wait: the longest ``estimated_time_to_regain_access`` (minutes) in the usage headers
    (X-Business-Use-Case-Usage maps ids to lists of usages; X-Page-Usage / X-App-Usage are one object),
    else ``Retry-After``; None when nobody said."""
    minutes: list[float] = []
    for name in ("X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage"):
        try:
            usage = json.loads(response.headers.get(name) or "null")
        except ValueError:
            continue
        entries: list[Any] = [usage]
        if isinstance(usage, dict) and name == "X-Business-Use-Case-Usage":
            entries = [e for group in usage.values() if isinstance(group, list) for e in group]
        for entry in entries:
            value = entry.get("estimated_time_to_regain_access") if isinstance(entry, dict) else None
            if isinstance(value, int | float) and value > 0:
                minutes.append(float(value))
    return max(minutes) * 60.0 if minutes else retry_after(response.headers.get("Retry-After"))


def wait_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f", wait {seconds:.0f} s" if seconds < 120 else f", wait about {seconds / 60:.0f} min"


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
