"""The queue store's whole interface in one place: every operation, what it promises and what it raises.

``publisher.store.Store`` implements it for SQLite and PostgreSQL (``tests/integration/test_store_interface``
checks that every public method of ``Store`` is declared here). Shaped like APScheduler's ``abc.DataStore``:
claim with a lease, release with a result, reap the abandoned.

Guarantees shared by every method:

* each change is **one committed transaction** that also appends its row to the publish log (``events``);
* every transition is **fenced**: it applies only from the state — and for an attempt's results, the
  attempt id — it was decided on; a stale decision changes nothing and the method returns False (or None);
* rows a transaction reads in order to change them are locked: ``FOR UPDATE [SKIP LOCKED]`` on PostgreSQL,
  ``BEGIN IMMEDIATE`` on SQLite; so several daemons can share one PostgreSQL queue;
* ``published``, ``failed`` and ``cancelled`` are left only by an operator's command (``retry``, which
  applies to failed deliveries);
* times are aware UTC datetimes (a naive one raises ``ValueError``);
* a database that fails (unreachable, locked past the retries, a constraint broken by a bug) raises
  ``publisher.errors.StoreError``; no method raises anything else for a database problem.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, Required, TypedDict, Unpack

from publisher.models import (
    Delivery,
    DeliveryState,
    Event,
    Post,
    PublishResult,
    RemoteRef,
    SentPost,
    Snapshot,
)

if TYPE_CHECKING:
    from publisher.store.metrics import MetricsRow, PostFacts
    from publisher.store.plan import PlannedPost, RubricStats
    from publisher.store.post_reading import PostSummary
    from publisher.store.posts import PostOutcome
    from publisher.store.records import Claim, Heartbeat, Hold


#: What the publish log keeps beside a state change (attempt number, HTTP status, excerpt, text, ...).
Detail = Mapping[str, Any]


# The keyword arguments of the longer operations, declared once here and used by both this interface and the
# implementations (``**options: Unpack[...]``), so a parameter list is not written out twice. Callers pass
# them as plain keyword arguments; the comment after each says what leaving it out means.


class ClaimOptions(TypedDict, total=False):
    worker: Required[str]  # who claims: "host:pid", kept with the claim
    lease_seconds: Required[float]
    limit: int  # at most this many claims (64)
    exclude_targets: Collection[str]  # targets this process is already publishing to (none)


class RetryOptions(TypedDict, total=False):
    not_before: Required[datetime]
    error: Required[str]
    burn_attempt: Required[bool]  # False: a rate limit or hold, the attempt does not count
    status: str  # the event's status ("retry_wait")
    detail: Detail | None


class InDoubtOptions(TypedDict, total=False):
    reconcile_at: Required[datetime | None]  # None: never looked up automatically
    detail: Detail | None


class Verdict(TypedDict, total=False):
    """What a look-up of an in-doubt delivery found; without ``found``/``requeue``/``next_check`` it only
    notes the check."""

    attempt_id: Required[str | None]  # the attempt the delivery is in doubt under (the fence)
    found: RemoteRef | None  # the post is on the network: published
    requeue: bool  # certainly absent: queued again (False)
    next_check: datetime | None  # unknown: look again then
    actor: str  # who decided ("reconciliation")
    note: str  # what the look-up said ("")


class DeliveryFilter(TypedDict, total=False):
    states: Collection[DeliveryState] | None
    post_id: int | None
    limit: int | None


class EventFilter(TypedDict, total=False):
    since: datetime | None
    target: str | None
    status: str | None
    post_id: int | None
    delivery_id: int | None
    limit: int | None  # keep the newest rows only (all)
    newest_first: bool  # (False)
    after_id: int | None  # only events appended after that one


class PostFilter(TypedDict, total=False):
    due_from: datetime | None
    due_to: datetime | None
    rubric: str | None
    post_ids: Collection[int] | None


class MetricsFilter(TypedDict, total=False):
    published_from: datetime | None
    published_to: datetime | None
    target: str | None
    post_id: int | None
    delivery_ids: Collection[int] | None


class QueueStore(Protocol):
    """What the daemon, the CLI and the tests may ask of the queue store (each body is its docstring alone)."""

    # --- intake ----------------------------------------------------------------------------------

    def add_post(self, post: Post, now: datetime) -> tuple[int, bool]:
        """Store a post and one ``queued`` delivery per target; ``(post_id, created)``.

        Idempotent on ``post.source_key``: a second add returns the first post's id and ``created=False``.
        """

    def add_post_in_slot(
        self, post: Post, now: datetime, candidates: Sequence[datetime], expiry: timedelta | None
    ) -> tuple[int, bool, datetime | None]:
        """Store ``post`` at the first candidate time free on all its targets (content plan slots).

        Returns ``(post_id, created, chosen time)``; the time is None when no candidate was free.
        """

    def submit_post(self, post: Post, now: datetime, *, actor: str = "") -> PostOutcome:
        """Store a post, or replace the waiting post with the same identity; idempotent on its content.

        Only deliveries not yet sent are replaced; what is published or in flight stays as it is.
        """

    def withdraw_post(self, key: str, now: datetime, *, actor: str, source: str = "") -> PostOutcome | None:
        """Cancel what is not yet sent of the post with identity ``key``; None when there is no such post."""

    def content_known(self, content_key: str, key: str | None) -> bool:
        """The post ``key`` (or a post from before ids) is stored with exactly this content already."""

    def same_text(
        self, body: str, targets: Collection[str], since: datetime, exclude_key: str | None
    ) -> list[tuple[str, str, datetime]]:
        """Other posts with this text to one of ``targets`` since ``since``, not cancelled (editors' check)."""

    # --- claiming and an attempt's results -------------------------------------------------------

    def claim_due(self, now: datetime, **options: Unpack[ClaimOptions]) -> list[Claim]:
        """Claim due ``queued``/``retry_wait`` deliveries of targets not held or excluded, oldest first.

        Commits ``publishing`` with a new attempt id and a lease before any network call. Rows another
        daemon is claiming are skipped, never waited for.
        """

    def renew_leases(self, attempt_ids: Collection[str], now: datetime, lease_seconds: float) -> set[str]:
        """Extend the leases of claims still held (a call is in flight); the attempt ids renewed.

        A claim already reaped or settled is not revived: its id is missing from the answer.
        """

    def mark_sending(self, delivery_id: int, attempt_id: str, now: datetime, sent: SentPost | str) -> bool:
        """Commit, just before the network call, what this attempt is about to send (``SentPost``: text,
        link, media names, parse mode; a bare text for callers that have only that).

        False when the claim was lost (reaped): then nothing may be sent. A lease that expires after this
        makes the delivery ``in_doubt`` rather than ``queued``.
        """

    def record_published(
        self, delivery_id: int, attempt_id: str, result: PublishResult, now: datetime, detail: Detail
    ) -> bool:
        """``publishing`` (or ``in_doubt`` under the same attempt: a late answer) -> ``published``."""

    def record_published_later(
        self, delivery_id: int, attempt_id: str, result: PublishResult, now: datetime, detail: Detail
    ) -> Callable[[], bool]:
        """``record_published`` queued with the next write of any thread (SQLite groups commits; elsewhere
        it is committed at once). The returned callable gives the result once committed, committing it if
        nothing has yet: the caller must call it before anything that relies on the result being durable
        (the dispatcher: before its lane's next network call, and before it waits)."""

    def record_retry(
        self, delivery_id: int, attempt_id: str, now: datetime, **options: Unpack[RetryOptions]
    ) -> bool:
        """``publishing`` -> ``retry_wait`` at ``not_before`` (or ``queued`` when no attempt is burnt)."""

    def record_failed(
        self, delivery_id: int, attempt_id: str, now: datetime, error: str, detail: Detail | None = None
    ) -> bool:
        """``publishing`` -> ``failed`` (permanent error, attempts exhausted)."""

    def record_in_doubt(
        self, delivery_id: int, attempt_id: str, now: datetime, error: str, **options: Unpack[InDoubtOptions]
    ) -> bool:
        """``publishing`` -> ``in_doubt``, to be looked up at ``reconcile_at`` (None: never automatically)."""

    def release(
        self, delivery_id: int, attempt_id: str, now: datetime, reason: str, *, error: str | None = None
    ) -> bool:
        """Give back a claim that never reached the network: ``publishing`` -> ``queued``, no attempt burnt."""

    # --- housekeeping ----------------------------------------------------------------------------

    def reap_expired_leases(self, now: datetime, *, reconcile_at: datetime | None = None) -> list[Delivery]:
        """Settle claims whose lease ran out: ``in_doubt`` if sending had begun, else ``queued``.

        Locks the expired rows (skipping those another reaper holds); returns only what this call changed.
        """

    def expire_overdue(self, now: datetime) -> list[Delivery]:
        """Waiting deliveries whose post expired -> ``failed``; returns what this call changed."""

    def in_doubt_due(self, now: datetime, limit: int = 50) -> list[Claim]:
        """In-doubt deliveries whose next look-up is due (each with the attempt it is in doubt under)."""

    def settle_in_doubt(self, delivery_id: int, now: datetime, **verdict: Unpack[Verdict]) -> bool:
        """Record a look-up: found -> ``published``; certainly absent -> ``queued``; else checked again later.

        Fenced on ``attempt_id``: a verdict about an earlier attempt changes nothing (returns False).
        """

    def next_due_at(self, now: datetime) -> datetime | None:
        """When the next claimable delivery of a target not on hold falls due (or a hold ends); None."""

    def overdue_count(self, now: datetime, cutoff: datetime) -> int:
        """Claimable deliveries of targets not on hold that were due before ``cutoff`` (a stalled queue)."""

    # --- the operator's commands -----------------------------------------------------------------

    def retry(self, delivery_id: int, now: datetime, actor: str) -> Delivery:
        """``failed``/``in_doubt`` -> ``queued`` with a fresh attempt budget; closes its incidents.

        Raises StoreError naming the state when the delivery is in another state or does not exist.
        """

    def cancel(self, delivery_id: int, now: datetime, actor: str) -> Delivery:
        """Waiting, failed or in-doubt -> ``cancelled``; closes its incidents. StoreError as for ``retry``."""

    def resolve(
        self, delivery_id: int, now: datetime, *, published_as: RemoteRef | None, actor: str
    ) -> Delivery:
        """``in_doubt`` -> ``published`` as ``published_as``, or ``cancelled``; closes its incidents.

        StoreError as for ``retry``.
        """

    def correct_remote_id(
        self, delivery_id: int, now: datetime, *, was: str, ref: RemoteRef, actor: str, note: str
    ) -> bool:
        """A ``published`` delivery recorded as ``was`` (a key no API call reads, like an Instagram shortcode)
        takes the remote id (and URL, when given) of ``ref``; the event ``id_corrected`` keeps ``was`` and
        ``note`` and ``actor``. False, changing nothing, when it is no longer published as ``was``."""

    def cancel_post(self, post_id: int, now: datetime, *, actor: str) -> PostOutcome:
        """The operator's ``post cancel``: every delivery of the post not yet sent -> ``cancelled``.

        StoreError when the post does not exist.
        """

    def reschedule_post(self, post_id: int, when: datetime, now: datetime, *, actor: str) -> PostOutcome:
        """Move every waiting delivery of the post to ``when``. StoreError when the post does not exist."""

    # --- targets, incidents, daemons -------------------------------------------------------------

    def hold_target(self, target: str, reason: str, now: datetime, *, until: datetime | None = None) -> bool:
        """Pause a target (``until`` None) or hold it until a time; True when the hold is new.

        A pause outranks a rate-limit hold: holding a paused target changes nothing.
        """

    def release_target(self, target: str, now: datetime, actor: str) -> bool:
        """Lift a target's hold; True when there was one."""

    def holds(self, now: datetime) -> list[Hold]:
        """Targets on hold now, by name."""

    def open_incident(self, key: str, now: datetime) -> bool:
        """True the first time an incident opens (so exactly one alert goes out per incident)."""

    def close_incident(self, key: str, now: datetime) -> None:
        """Close an incident: the next failure of its kind alerts again."""

    def heartbeat(
        self, daemon_id: str, now: datetime, *, host: str, pid: int, status: str, stopped: bool = False
    ) -> None:
        """Record that a daemon is alive (``publisher status`` reads it), or that it stopped."""

    def heartbeats(self) -> list[Heartbeat]:
        """Every daemon's last heartbeat, newest first."""

    # --- shared between daemons: the pace per target, media ------------------------------------

    def take_slot(self, target: str, now: datetime, interval: float, max_wait: float) -> datetime | None:
        """Take the target's next request slot if it is at most ``max_wait`` seconds after ``now``.

        Atomic across daemons on the database: no two callers get the same slot, consecutive slots are
        ``interval`` seconds apart. None, taking nothing, when the slot is further off or the target is on
        hold (a pause, or a rate-limit hold any daemon learnt). ``now`` is real time, shared between hosts.
        """

    def delay_slots(self, target: str, by: timedelta) -> None:
        """Move every free slot of ``target`` ``by`` later: a paced request left that late after its slot,
        and the shared schedule moves on with it. Slots already handed out keep their time."""

    def has_media(self, sha256: str) -> bool:
        """Whether media with this content hash is stored."""

    def put_media(self, sha256: str, mime: str, data: bytes, now: datetime) -> bool:
        """Store media under its content hash unless it is there already (written once); True when new."""

    def media_bytes(self, sha256: str) -> bytes | None:
        """The stored bytes of media with this content hash, or None."""

    # --- reading ---------------------------------------------------------------------------------

    def get_post(self, post_id: int) -> Post | None: ...

    def get_delivery(self, delivery_id: int) -> Delivery | None: ...

    def deliveries(self, **where: Unpack[DeliveryFilter]) -> list[Delivery]:
        """Deliveries by due time, optionally only some states or one post's."""

    def counts_by_state(
        self, states: Collection[DeliveryState] | None = None, *, at_most: int | None = None
    ) -> dict[str, int]:
        """Deliveries per state; with ``states`` only those, through the state index (cost flat with history);
        with ``at_most``, a state's count stops there (cost flat with the queue too)."""

    def events(self, **where: Unpack[EventFilter]) -> list[Event]:
        """The publish log, oldest first (``limit`` keeps the newest ``limit`` rows)."""

    def log_event(self, now: datetime, status: str, **fields: Any) -> None:
        """Append a log row that is not a delivery's state change (e.g. a rejected post file)."""

    def last_event_id(self) -> int:
        """The newest publish-log id (0 when empty)."""

    def find_post_id(self, ref: str) -> int | None:
        """A post by its identity (``kino``) or its number (``12``)."""

    def post_summaries(self, **where: Unpack[PostFilter]) -> list[PostSummary]:
        """Posts whose earliest delivery falls due in ``[due_from, due_to)``, earliest first."""

    def planned_posts(self, start: datetime, end: datetime) -> list[PlannedPost]:
        """Posts with a delivery due in ``[start, end)``, cancelled ones left out (the content plan)."""

    def due_horizon(
        self, start: datetime, end: datetime, count: int, *, backwards: bool = False
    ) -> datetime | None:
        """Due time of the ``count``-th scheduled delivery in ``[start, end)`` from ``start`` (or from ``end``
        when ``backwards``), None when fewer; reads at most ``count`` index entries (bounds the calendar)."""

    def rubric_stats(self, now: datetime) -> dict[str, RubricStats]:
        """Per rubric: the last post due up to ``now`` and the next after it."""

    def change_marker(self) -> int:
        """The newest publish-log id: it grows with every change (cheap "anything new?" check)."""

    # --- metrics of published posts -------------------------------------------------------------

    def record_snapshots(self, taken: Sequence[tuple[int, Snapshot]]) -> int:
        """Append one snapshot per ``(delivery_id, snapshot)`` in one transaction; how many."""

    def snapshot_history(self, delivery_id: int) -> list[Snapshot]:
        """Every snapshot of a delivery, oldest first."""

    def metrics_rows(self, **where: Unpack[MetricsFilter]) -> list[MetricsRow]:
        """Published deliveries (published in ``[published_from, published_to)``) with their newest snapshot."""

    def post_facts(self, post_ids: Collection[int]) -> dict[int, PostFacts]:
        """Title, rubric, author and mentions of the given posts (for ``log --json``)."""

    def due_targets(self, now: datetime) -> set[str]:
        """Targets with deliveries due now: their metrics wait (publishing comes first)."""

    # --- the database itself ---------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply pending schema migrations; the versions applied. RuntimeError for a newer schema."""

    def schema_version(self) -> int: ...

    def close(self) -> None:
        """Release the connection pool."""
