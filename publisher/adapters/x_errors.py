"""X's error answers mapped to the error tree: most of what is X-specific about failing lives here.

Bodies are RFC 7807 problems ``{"title", "detail", "type", "status"}``, ``type`` being
``https://api.twitter.com/2/problems/<name>`` or ``about:blank``, or ``{"errors": [...], ...}`` for an invalid
request (https://docs.x.com/x-api/fundamentals/response-codes-and-errors, which names the types
``client-forbidden``, ``usage-capped``, ``rate-limit-exceeded``...). Rate limits: ``x-rate-limit-*`` on every
answer (reset in epoch seconds) and daily ``x-user-limit-24hour-*`` / ``x-app-limit-24hour-*`` counters for
posting (https://docs.x.com/fundamentals/rate-limits).

Account states (what holds for every post of the account, not for one post):

* ``402`` ``{"title": "CreditsDepleted", "type": ".../problems/credits"}`` (also seen as ``.../credits-depleted``):
  the pay-per-use balance is spent, and X refuses every call until credits are bought or the spending limit
  is raised in the developer console (https://docs.revive.social/general-guides/fix-credits-depleted-error-when-posting-to-x).
  -> ``AccountError``: the target is paused with one alert, its posts wait.
* ``403`` "the request is understood, but it has been refused or access is not allowed; an accompanying error
  message will explain why" (response-codes page). When that message is about this post (duplicate content,
  a reply or quote X does not allow, "not allowed to create a Tweet with ...") only this post fails
  (``ContentRejected``); any other 403 (``client-forbidden``: the app is not in a Project or not enrolled;
  ``oauth1-permissions``: a read-only app; "Your account is suspended / not permitted to access this
  feature") holds for every post: the target is paused.
* ``429`` ``usage-capped`` ``{"title": "UsageCapExceeded", "period": "Monthly", "scope": "Product"}`` comes
  while ``x-rate-limit-remaining`` still has room (github.com/xdevplatform/xdk/issues/25), and no header
  says when the month's cap resets. Waiting for the 15-minute window would ask X again every 15 minutes for
  weeks, so the target is held for ``USAGE_CAP_RECHECK`` (or until a later announced reset) and tries once then.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from publisher import errors
from publisher.adapters.base import Adapter
from publisher.settings import XSettings

#: how long a monthly usage cap holds the target before one request looks whether it was lifted
USAGE_CAP_RECHECK = timedelta(hours=24)
#: words of a 403 that is about the post itself, not about the account or the app
_CONTENT_403 = re.compile(
    r"duplicate content|(?:tweet|post) with|this (?:tweet|post|content)|\brepl(?:y|ies)\b|\bquot(?:e|ing)\b"
    r"|not allowed to post",
    re.IGNORECASE,
)
_DUPLICATE = "duplicate content"
#: what an operator does about a 403 of these problem types; other account 403s get the general advice
_FIX_403 = {
    "oauth1-permissions": "give the app 'Read and write' permission in the developer portal and regenerate "
    "the access token",
    "client-forbidden": "attach the app to a Project in the developer console (and enrol it for posting)",
    "unsupported-authentication": "use the app's OAuth 1.0a user tokens (API key and access token)",
}
_ACCOUNT_ADVICE = (
    "check the account on x.com (suspended, locked or restricted?) and the app in the developer console"
)


@dataclass(frozen=True)
class Problem:
    """The parts of an X error body the mapping reads."""

    title: str
    #: the human part: ``detail``/``title`` and each ``errors[].message``
    text: str
    #: the problem type's last path segment (``credits``, ``usage-capped``...), "" for ``about:blank``
    kind: str
    period: str

    @classmethod
    def of(cls, response: requests.Response) -> Problem:
        try:
            body = Adapter.as_dict(response.json())
        except ValueError:
            return cls("", f"HTTP {response.status_code}", "", "")
        parts = [str(body.get("detail") or body.get("title") or "")]
        parts += [
            str(e.get("message") or e.get("detail") or "")
            for e in map(Adapter.as_dict, body.get("errors") or [])
        ]
        text = "; ".join(p for p in parts if p) or f"HTTP {response.status_code}"
        type_ = str(body.get("type") or "")
        kind = type_.rstrip("/").rsplit("/", 1)[-1] if "/problems/" in type_ else ""
        title, period = (Adapter.clean_text(str(body.get(k) or ""))[:60] for k in ("title", "period"))
        return cls(title, Adapter.clean_text(text)[:200], kind, period)


def x_error(
    adapter: Adapter, response: requests.Response, step: str, *, unsafe: bool, content: bool = False
) -> errors.PublishError:
    """Turn an X error answer into one class of the error tree, with a message for the operator.

    ``unsafe`` marks the publishing POST: only there is a 5xx in doubt. ``content`` marks calls that carry
    our content (the post, an image): there a 400 means X refused that content.
    """
    status = response.status_code
    problem = Problem.of(response)
    detail = problem.text
    kw: dict[str, Any] = {"status": status, "excerpt": adapter.excerpt(response)}
    if status == 429:
        return _rate_limited(adapter, response, problem, step, kw)
    if status == 401:
        names = ", ".join(adapter.variable(n) for n in XSettings.credentials)
        message = (
            f"rejected the app keys or the access token (401): check {names}; the token may have been revoked"
        )
        return adapter.error(errors.AuthError, message, **kw)
    if status == 402:
        return adapter.error(
            errors.AccountError,
            f"the developer account has no API credits left (402 {problem.title or 'Payment Required'}: "
            f"{detail}): buy credits or raise the spending limit in the X developer console",
            **kw,
        )
    if status == 403:
        return _forbidden(adapter, problem, step, kw)
    if status >= 500:
        what = f"answered {status} to the {step}" if unsafe else f"unavailable ({step}, HTTP {status})"
        return adapter.unsure(unsafe, what, **kw)
    if content and status in (400, 413, 422):
        return adapter.error(errors.ContentRejected, f"X rejected the {step}: {detail}", **kw)
    return adapter.error(errors.PermanentError, f"X refused the {step}: {detail}", **kw)


def _forbidden(adapter: Adapter, problem: Problem, step: str, kw: dict[str, Any]) -> errors.PublishError:
    """A 403 about this post fails the post; any other holds for the whole account (module docstring)."""
    detail = problem.text
    if problem.kind not in _FIX_403 and _CONTENT_403.search(detail):
        if _DUPLICATE in detail.lower():  # v2 has no error code 187 any more: the text is the only marker
            message = "refused a duplicate post: this account already published the same text"
            return adapter.error(errors.ContentRejected, message, **kw)
        return adapter.error(errors.ContentRejected, f"refused this post ({step}, 403): {detail}", **kw)
    if problem.kind in _FIX_403:
        return adapter.error(
            errors.AuthError,
            f"X does not let this app act for the account ({step}, 403): {_FIX_403[problem.kind]} — {detail}",
            **kw,
        )
    return adapter.error(
        errors.AccountError,
        f"X does not let this account post ({step}, 403: {detail}): {_ACCOUNT_ADVICE}",
        **kw,
    )


def _rate_limited(
    adapter: Adapter, response: requests.Response, problem: Problem, step: str, kw: dict[str, Any]
) -> errors.RateLimited:
    reset_at, scope = rate_limit_reset(response.headers)
    if problem.kind == "usage-capped" or problem.title == "UsageCapExceeded":
        recheck = datetime.now(UTC) + USAGE_CAP_RECHECK
        reset_at, scope = max(reset_at or recheck, recheck), "app"
        period = problem.period.lower() or "usage"
        message = (
            f"the app's {period} usage cap is reached ({step}: {problem.text}); X does not say when it resets, "
            f"so the target waits until {reset_at:%Y-%m-%d %H:%M} UTC and tries once then. To go on sooner, "
            f"raise the cap or change the plan in the X developer console, then run publisher resume {adapter.target}"
        )
        return adapter.error(errors.RateLimited, message, reset_at=reset_at, scope=scope, **kw)
    when = f"after {reset_at:%Y-%m-%d %H:%M} UTC" if reset_at else "later"
    return adapter.error(
        errors.RateLimited,
        f"rate limit reached ({step}); try again {when}",
        reset_at=reset_at,
        scope=scope,
        **kw,
    )


def rate_limit_reset(headers: Mapping[str, str]) -> tuple[datetime | None, str]:
    """When posting may resume: the 15-minute window, or a daily cap when that one is used up."""
    candidates: list[tuple[datetime, str]] = []
    for prefix, scope in (("x-rate-limit", "endpoint"), ("x-user-limit-24hour", "account")):
        reset = _epoch(headers.get(f"{prefix}-reset"))
        if reset and (scope == "endpoint" or headers.get(f"{prefix}-remaining") == "0"):
            candidates.append((reset, scope))
    reset = _epoch(headers.get("x-app-limit-24hour-reset"))
    if reset and headers.get("x-app-limit-24hour-remaining") == "0":
        candidates.append((reset, "app"))
    if not candidates:
        wait = Adapter.retry_after(headers.get("retry-after"))
        if wait is not None:
            return datetime.now(UTC) + timedelta(seconds=wait), "endpoint"
        return None, "account"
    return max(candidates)


def _epoch(value: str | None) -> datetime | None:
    return Adapter.parse_time(int(value)) if value and value.strip().isdigit() else None
