"""The error tree. Every error the service raises on purpose derives from ``PublisherError``.

::

    PublisherError
    ├── ConfigurationError        bad or missing settings (outside the publish tree on purpose)
    ├── InputError                a post file or directory entry is invalid: file, field, fix
    ├── StoreError
    └── PublishError              carries network, target, http status, a response excerpt
        ├── TransientError        certainly not applied: safe to retry with backoff
        │   └── RateLimited       retry_after / reset time, scope (account, app, endpoint)
        ├── PermanentError        never retried automatically
        │   ├── AuthError         token revoked or lacking rights: pause this target, alert
        │   └── ContentRejected   too long, duplicate, unsupported media, policy block
        └── InDoubtError          may have been applied: read timeout after sending, reset after send,
                                  5xx on a non-idempotent POST, a lease that expired mid-publish

The dispatcher maps each class to a delivery state in one place, most specific class first.
Messages never contain secrets: adapters build them from scrubbed response excerpts.
"""

from __future__ import annotations

from datetime import datetime


class PublisherError(Exception):
    """Base of every error the service raises on purpose."""


class ConfigurationError(PublisherError):
    """Settings are missing or invalid; the message names the variable to fix."""


class InputError(PublisherError):
    """A post file or a directory entry is invalid.

    ``str(err)`` reads ``FILE: FIELD ...: FIX`` so an editor can act on it without a developer.
    """

    def __init__(self, source: str, field: str, problem: str, fix: str = "") -> None:
        self.source = source
        self.field = field
        self.problem = problem
        self.fix = fix
        text = f"{source}: {field} {problem}" if field else f"{source}: {problem}"
        if fix:
            text += f": {fix}"
        super().__init__(text)


class StoreError(PublisherError):
    """The queue store could not complete an operation (after its own lock retries)."""


class PublishError(PublisherError):
    """A publish (or check / reconcile) call to a network failed.

    ``excerpt`` is a short, secret-free piece of the response for the operator.
    """

    def __init__(
        self,
        message: str,
        *,
        network: str = "",
        target: str = "",
        status: int | None = None,
        code: str | int | None = None,
        excerpt: str = "",
    ) -> None:
        self.message = message
        self.network = network
        self.target = target
        self.status = status
        self.code = code
        self.excerpt = excerpt[:500]
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        return " | ".join(parts)


class TransientError(PublishError):
    """Certainly not applied on the network: safe to retry with backoff."""


class RateLimited(TransientError):
    """The network asked us to wait. Waiting does not burn an attempt.

    ``retry_after`` is in seconds from now; ``reset_at`` an absolute UTC time; either may be None.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        reset_at: datetime | None = None,
        scope: str = "account",
        **kwargs: object,
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after
        self.reset_at = reset_at
        self.scope = scope


class PermanentError(PublishError):
    """Will not succeed by retrying; an operator must act."""


class AuthError(PermanentError):
    """The token is revoked, expired or lacks rights for this target: the target is paused."""


class ContentRejected(PermanentError):
    """The network refused this content (too long, duplicate, media type, policy)."""


class InDoubtError(PublishError):
    """The request may have been applied: never re-sent blindly."""
