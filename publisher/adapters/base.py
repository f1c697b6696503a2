"""The adapter contract as a template: the base owns the sequence, a network module fills narrow hooks.

An adapter knows one network's API and nothing about the store or the scheduler. ``publish`` is the same
for every network (the way django-anymail's ``backends/base.py`` drives every provider)::

    prepare(rendered, stop)    -> Prepared the dispatcher calls it before it commits "sending":
      check_capabilities(rendered)         media count and kinds against the network's PROFILE
      upload_media(rendered)   -> media    hook; uploads, never in doubt (no post exists yet); bounded by
                                           ``timeouts.upload`` and ended by the daemon's stop (``uploads``)
    send_post(rendered, media, key) -> Answer   hook; the one call that creates the post
    parse_answer(answer, media) -> Posted  hook; the post's ids (and URL) from the answer

and transport failures are mapped here, once: a request that never left is ``TransientError``; one that
may have reached the network during ``send_post`` is ``InDoubtError``. API answers (error bodies) are
mapped by the network module, which knows their shape. An adapter never sleeps to wait out a rate limit
and never retries a non-idempotent call by itself: the dispatcher decides.

``reconcile`` (hooks ``recent_posts``, ``texts_as_posted``, ``comparable``) and ``fetch_metrics`` (hook
``read_metrics``) are templates too; see their docstrings.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import requests

from publisher.adapters import lookup
from publisher.adapters.answers import (
    as_dict,
    clean_text,
    count,
    data_excerpt,
    parse_time,
    retry_after,
)
from publisher.adapters.http import (
    json_body,
    make_session,
    requests_started,
    response_excerpt,
    transport_errors,
)
from publisher.adapters.profile import NetworkProfile, picture_format
from publisher.adapters.published import PostAddress
from publisher.adapters.uploads import UploadBudget
from publisher.errors import (
    ConfigurationError,
    ContentRejected,
    InDoubtError,
    PermanentError,
    PublishError,
    TransientError,
)
from publisher.models import (
    AccountInfo,
    PublishResult,
    ReconcileResult,
    RemoteRef,
    Rendered,
    SentPost,
    Snapshot,
)
from publisher.ops.redact import register_secret
from publisher.settings import NetworkSettings, Settings, target_variable

E = TypeVar("E", bound=PublishError)


@dataclass(frozen=True)
class Answer:
    """What ``send_post`` got back: the parsed body and a scrubbed excerpt for the publish log."""

    body: Any
    excerpt: str = ""
    status: int | None = None
    #: which call made the post, when the answer's shape depends on it (e.g. "photo")
    kind: str = ""


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` uploaded (media ids, attachment names) for ``send_post``."""

    media: tuple[str, ...] = ()


@dataclass(frozen=True)
class Posted:
    """The post the answer names: its id first, then the ids of its parts (photos, album messages)."""

    ids: tuple[str, ...]
    published_at: datetime | None = None
    #: when the post's address is not ``post_url(ids[0])`` (a Facebook video)
    url: str | None = None


@dataclass(frozen=True)
class RemotePost:
    """One post read back from the network by ``recent_posts``."""

    id: str
    text: str
    created_at: datetime | None
    #: a pinned post stands first whatever its age: it does not end the search
    pinned: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Adapter(ABC):
    """One network's publishing API, for one target (a network's account).

    Class attributes describe the network so that the composer and dispatcher need not ask: ``profile``
    (the module's ``PROFILE``, from which the rest follows); ``deduplicates`` whether the network itself drops a repeated publish with
    the same idempotency key (then an in-doubt delivery may be re-sent safely), for
    ``dedup_window_seconds`` (None: for ever); ``can_look_up`` whether ``recent_posts`` is implemented.
    """

    profile: ClassVar[NetworkProfile]
    deduplicates: ClassVar[bool] = False
    dedup_window_seconds: ClassVar[float | None] = None
    # Derived from ``profile`` when a subclass names it (``__init_subclass__``):
    network: ClassVar[str]
    #: the network's settings declaration: the ``Settings`` field named after the network
    settings_class: ClassVar[type[NetworkSettings]] = NetworkSettings
    #: the real API origin (the declaration's default ``api_url``); the configured ``api_url`` replaces it
    default_origin: ClassVar[str] = ""
    #: True when the subclass implements ``recent_posts``
    can_look_up: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        profile: NetworkProfile | None = cls.__dict__.get("profile")
        if profile is not None:
            cls.network = profile.network
            cls.settings_class = Settings.model_fields[profile.network].annotation  # type: ignore[assignment]
            cls.default_origin = str(cls.settings_class.model_fields["api_url"].default)
        cls.can_look_up = cls.recent_posts is not Adapter.recent_posts

    def __init__(self, target: str, settings: NetworkSettings, session: requests.Session | None = None):
        """Check the target's settings (naming the variables to set) and build the HTTP session.

        Raises ``ConfigurationError`` for another network's section or missing credentials.
        """
        self.target = target
        if not isinstance(settings, self.settings_class):
            raise ConfigurationError(f"target {target}: {self.settings_class.__name__} expected")
        missing = settings.credentials_missing()
        if missing:
            names = ", ".join(self.variable(name) for name in missing)
            raise ConfigurationError(f"target {target} is not configured: set {names}")
        for secret in settings.secrets():  # load_settings does this too; settings built in code may not
            register_secret(secret.get_secret_value())
        self.settings = settings
        self.session = session or self.new_session()
        #: the current post's upload deadline and stop event (``prepare`` sets it; ``upload_media`` uses it)
        self.budget = UploadBudget(settings.timeouts.upload, self.error)

    def new_session(self) -> requests.Session:
        """Hook: the HTTP session (``make_session``: timeouts, deadline, origin rewrite to ``api_url``)."""
        return make_session(self.settings, self.default_origin)

    # --- publish: the template ---------------------------------------------------------------------

    def prepare(self, rendered: Rendered, stop: threading.Event | None = None) -> Prepared:
        """Check the media and upload them: everything before the call that creates the post.

        The dispatcher calls it before it commits the delivery as sending, so a failure (or a daemon
        stopping: ``UploadInterrupted``) leaves nothing that may have been published. Raises
        ``ContentRejected``, ``TransientError`` / ``RateLimited``, ``AuthError`` or ``PermanentError``.
        """
        self.check_capabilities(rendered)
        self.budget = UploadBudget(self.settings.timeouts.upload, self.error, stop or threading.Event())
        try:
            with self.transport(unsafe=False):
                return Prepared(tuple(self.upload_media(rendered)))
        except OSError as exc:
            raise self._unreadable(exc) from None

    def publish(
        self, rendered: Rendered, idempotency_key: str, prepared: Prepared | None = None
    ) -> PublishResult:
        """Publish (after ``prepare``, or preparing first) and return where the post now lives.

        Raises what ``prepare`` raises, ``TransientError`` / ``RateLimited`` (not applied), ``AuthError`` /
        ``ContentRejected`` / ``PermanentError`` from the answer, or ``InDoubtError`` (may have been applied).
        """
        media = list((prepared or self.prepare(rendered)).media)
        answer = self._send(rendered, media, idempotency_key)
        posted = self.parse_answer(answer, media)
        if posted is None or not posted.ids:
            raise self.error(
                InDoubtError,
                "the answer carried no post id; the post may have been published",
                status=answer.status,
                excerpt=answer.excerpt,
            )
        return PublishResult(
            remote_id=posted.ids[0],
            url=posted.url or self.post_url(posted.ids[0]),
            published_at=posted.published_at or datetime.now(UTC),
            remote_ids=posted.ids,
            excerpt=answer.excerpt,
        )

    def _send(self, rendered: Rendered, media: list[str], idempotency_key: str) -> Answer:
        """Call ``send_post``; only an error after the request left this process may be in doubt."""
        before = requests_started()
        with self.transport(unsafe=True):
            try:
                return self.send_post(rendered, media, idempotency_key)
            except (PublishError, requests.RequestException):
                raise
            except OSError as exc:  # a media file that cannot be read: open() comes before the request
                raise self._unreadable(exc) from None
            except Exception as exc:
                kind = type(exc).__name__
                if requests_started() == before:
                    raise self.error(
                        TransientError, f"the post could not be sent ({kind}); nothing was sent"
                    ) from None
                raise self.error(
                    InDoubtError,
                    f"unexpected failure after sending the post ({kind}); it may have been published",
                ) from None

    def _unreadable(self, exc: OSError) -> PublishError:
        name = Path(exc.filename).name if isinstance(exc.filename, str) else "a media file"
        return self.error(PermanentError, f"cannot read the file {name} ({exc.strerror}); nothing was sent")

    def check_capabilities(self, rendered: Rendered) -> None:
        """Refuse before any call what the network would refuse after the uploads."""
        profile = self.profile
        unsupported = [m.name for m in rendered.media if m.is_video and profile.video is None]
        if unsupported:
            raise self.error(ContentRejected, f"video is not published here: {', '.join(unsupported)}")
        if len(rendered.media) > profile.images.per_post:
            raise self.error(
                ContentRejected,
                f"a post carries at most {profile.images.per_post} images, this one has {len(rendered.media)}",
            )
        formats = profile.images.formats
        refused = [m for m in rendered.media if m.is_image and formats is not None and m.mime not in formats]
        if refused and formats:  # the composer refuses these at acceptance; a post queued before may not be
            names = ", ".join(f"{m.name} ({picture_format(m.mime)})" for m in refused)
            wanted = ", ".join(picture_format(f) for f in formats)
            message = (
                f"only {wanted} pictures are taken, not {names}: convert them to {wanted}; nothing was sent"
            )
            raise self.error(ContentRejected, message)

    def upload_media(self, rendered: Rendered) -> list[str]:
        """Hook: preparatory calls before the post (e.g. photo uploads); returns what ``send_post`` needs."""
        return []

    def send_post(self, rendered: Rendered, media: list[str], idempotency_key: str) -> Answer:
        """Hook: the one call that creates the post. Maps the network's error answers to the error tree.

        Every network module implements it (test doubles that replace ``publish`` whole need not)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement send_post")

    def parse_answer(self, answer: Answer, media: list[str]) -> Posted | None:
        """Hook: the ids the answer names (None or no ids: the base reports the post as in doubt)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement parse_answer")

    def post_url(self, remote_id: str) -> str | None:
        """Hook: the public address of a post."""
        return None

    # --- check, describe ---------------------------------------------------------------------------

    @abstractmethod
    def check(self) -> AccountInfo:
        """A cheap "who am I and may I post here" call for ``publisher check``. Raises ``PublishError``."""

    def describe(self) -> str:
        """Safe for logs: the target and its account or chat id, never a token."""
        return self.target

    def close(self) -> None:
        self.session.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"

    # --- reconcile: the template -------------------------------------------------------------------

    def reconcile(self, sent: SentPost, attempt_started_at: datetime) -> ReconcileResult:
        """Look for a post an in-doubt attempt may have made, given exactly what it sent.

        Pages back through ``recent_posts`` until a post older than the attempt (less ``CLOCK_SKEW``):
        the search is bounded by that time window, not by a count. Of several matches the oldest wins.
        """
        return lookup.reconcile(self, sent, attempt_started_at)

    # --- metrics: the template ---------------------------------------------------------------------

    #: how many posts one metrics call may ask about (the API's batch limit)
    metrics_batch: ClassVar[int] = 100

    def fetch_metrics(self, refs: Sequence[RemoteRef]) -> list[Snapshot]:
        """Figures of published posts, one ``Snapshot`` per ref, in as few calls as the API allows.

        The caller passes at most ``metrics_batch`` refs. A post the network no longer shows, or a figure
        it will not give, is a snapshot marked unavailable with the reason, never an exception. Raises
        ``RateLimited`` / ``TransientError`` (try later) or ``AuthError`` (pause the target) for the call.
        """
        now = datetime.now(UTC)
        with self.transport(unsafe=False):
            found = self.read_metrics(refs, now)
        gone = f"{self.profile.title} did not return this post (deleted, or not visible to the account)"
        return [
            found.get(r.remote_id) or Snapshot(r.remote_id, now, available=False, reason=gone) for r in refs
        ]

    def read_metrics(self, refs: Sequence[RemoteRef], now: datetime) -> dict[str, Snapshot]:
        """Hook: the snapshots the network gave, by remote id. The default: figures cannot be read."""
        reason = self.no_metrics()
        return {r.remote_id: Snapshot(r.remote_id, now, available=False, reason=reason) for r in refs}

    def no_metrics(self) -> str:
        return f"{self.network}: reading figures is not supported"

    def cannot_look_up(self) -> str:
        return f"{self.profile.title} cannot look posts up"

    def find_published(self, address: PostAddress) -> RemoteRef | None:
        """Hook: the post at ``address`` (a URL whose key is not the remote id, ``PublishedForm.lookup_fix``),
        looked up on the network for ``publisher resolve``; None when it is not found. Raises
        ``PublishError`` when the network cannot be asked. The default: such URLs are not the network's."""
        return None

    def recent_posts(self, since: datetime) -> Iterator[RemotePost]:
        """Hook: the account's posts, newest first, page after page (at least back to ``since``)."""
        return iter(())

    def texts_as_posted(self, sent: SentPost) -> list[str]:
        """Hook: the texts the network may hold for what was sent (e.g. with the link written in)."""
        return [sent.text]

    def comparable(self, text: str) -> str:
        """Hook: a text as it can be compared with what the network returns (whitespace collapsed)."""
        return " ".join(text.split())

    # --- shared helpers ----------------------------------------------------------------------------

    def error(self, cls: type[E], message: str, **context: Any) -> E:
        """An error of ``cls`` with the network's name in front and the target's context."""
        return cls(f"{self.profile.title}: {message}", network=self.network, target=self.target, **context)

    def unsure(self, unsafe: bool, message: str, **context: Any) -> PublishError:
        """In doubt when the request changes something on the network and may have been applied, else
        transient (a read, an upload before the post: nothing was published)."""
        if unsafe:
            return self.error(InDoubtError, f"{message}; the post may have been published", **context)
        return self.error(TransientError, message, **context)

    def variable(self, name: str) -> str:
        """The settings variable an operator edits for this target (a named account has its own)."""
        return target_variable(self.target, name)

    def transport(self, *, unsafe: bool) -> AbstractContextManager[None]:
        """Transport failures of the calls inside mapped to the error tree (``unsafe``: may be applied)."""
        return transport_errors(self.network, self.target, unsafe=unsafe)

    def json(self, response: requests.Response, *, unsafe: bool) -> Any:
        """The JSON body; malformed JSON after a publishing call is in doubt (the server got it)."""
        return json_body(response, self.network, self.target, unsafe=unsafe)

    excerpt = staticmethod(response_excerpt)

    clean_text = staticmethod(clean_text)
    data_excerpt = staticmethod(data_excerpt)

    as_dict = staticmethod(as_dict)
    retry_after = staticmethod(retry_after)
    parse_time = staticmethod(parse_time)
    count = staticmethod(count)
