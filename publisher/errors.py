"""The error tree. Every error the service raises on purpose derives from ``PublisherError``.

::

    PublisherError
    ├── ConfigurationError        bad or missing settings (outside the publish tree on purpose)
    ├── InputError                a post file or directory entry is invalid: file, field, fix
    │   └── InputErrors           several problems in one file, reported together
    ├── InboxError                the inbox's own folders cannot be used (an operator must fix them)
    ├── StoreError
    └── PublishError              carries network, target, http status, a response excerpt
        ├── TransientError        certainly not applied: safe to retry with backoff
        │   ├── RateLimited       retry_after / reset time, scope (account, app, endpoint)
        │   └── UploadInterrupted the service is stopping during a media upload: release the claim
        ├── PermanentError        never retried automatically
        │   ├── AccountError      the account cannot post at all now (no credits, suspended): pause, alert
        │   │   └── AuthError     token revoked or lacking rights: pause this target, alert
        │   └── ContentRejected   too long, duplicate, unsupported media, policy block
        └── InDoubtError          may have been applied: read timeout after sending, reset after send,
                                  5xx on a non-idempotent POST, a lease that expired mid-publish

The dispatcher maps each class to a delivery state in one place, most specific class first.
Messages never contain secrets: adapters build them from scrubbed response excerpts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from publisher.i18n import ngettext
from publisher.ops.safetext import printable


class PublisherError(Exception):
    """Base of every error the service raises on purpose."""


class ConfigurationError(PublisherError):
    """Settings are missing or invalid; the message names the variable to fix."""


class InputError(PublisherError):
    """A post file or a directory entry is invalid.

    ``str(err)`` reads ``FILE: FIELD ...: FIX`` so an editor can act on it without a developer.
    """

    def __init__(self, source: str, field: str, problem: str, fix: str = "") -> None:
        # A file name or a YAML value may carry control characters or undecodable bytes: the message goes
        # to notes, logs, terminals and the database, so it is made printable here, once for every caller.
        self.source = printable(source)
        self.field = printable(field)
        self.problem = printable(problem, keep="\n")
        self.fix = printable(fix, keep="\n")
        source, field, problem, fix = self.source, self.field, self.problem, self.fix
        text = f"{source}: {field} {problem}" if field else f"{source}: {problem}"
        if fix:
            text += f": {fix}"
        super().__init__(text)


class InputErrors(InputError):
    """Several problems in one file (a post file, a rendered post, the directory), reported together so an
    editor fixes them in one go. ``field`` is the first problem's field; ``errors`` holds every problem.
    """

    def __init__(self, source: str, errors: Iterable[InputError]) -> None:
        self.errors = tuple(errors)
        lines = "\n".join(f"  - {str(e).removeprefix(f'{source}: ')}" for e in self.errors)
        # The editors' language: a post's problems land in its rejection note and in `preview`.
        count = len(self.errors)
        header = ngettext("{count} problem:", "{count} problems:", count).format(count=count)
        super().__init__(source, "", f"{header}\n{lines}")
        self.field = self.errors[0].field if self.errors else ""


def combine_errors(source: str, errors: list[InputError]) -> InputError:
    """One error as is; several as ``InputErrors`` (identical messages once)."""
    unique = list({str(e): e for e in errors}.values())
    return unique[0] if len(unique) == 1 else InputErrors(source, unique)


class InboxError(PublisherError):
    """The inbox or one of its own folders (``processed``, ``rejected``) cannot be used safely.

    Not the editor's fault: the message names the path and what the operator should do.
    """


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


class UploadInterrupted(TransientError):
    """The service is stopping while a post's media are being uploaded: nothing was published, so the
    dispatcher gives the claim back (released, no attempt burnt) instead of waiting for the upload."""


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


class AccountError(PermanentError):
    """Nothing of this target can be posted until someone acts on the account (credits used up, account
    suspended, app not allowed): failing each post in turn would only repeat one alert per post, so the
    target is paused with one alert and its posts wait."""


class AuthError(AccountError):
    """The token is revoked, expired or lacks rights for this target: the target is paused."""


class ContentRejected(PermanentError):
    """The network refused this content (too long, duplicate, media type, policy)."""


class InDoubtError(PublishError):
    """The request may have been applied: never re-sent blindly."""
