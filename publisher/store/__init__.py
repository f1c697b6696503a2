"""The queue store: posts, deliveries, holds and the append-only publish log, in SQLite or PostgreSQL.

Every state change is one committed transaction that also appends an event row; the publish log *is* the
events table. A delivery moves ``queued -> publishing -> published`` (or ``retry_wait`` / ``failed`` /
``in_doubt`` / ``cancelled``). Claiming commits ``publishing`` with an attempt id and a lease before any
network call; ``mark_sending`` commits the rendered text just before the call; results are recorded only by the
attempt that holds the claim (a fencing check on ``attempt_id``).

SQLite: WAL, ``synchronous=FULL``, a busy timeout and ``BEGIN IMMEDIATE`` for every write transaction, plus a
bounded retry when the database stays locked. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` to claim, so several
daemons can share one queue.

The whole interface — every operation, what it promises and what it raises — is ``interface.QueueStore``;
mypy checks below that ``Store`` implements it, and a test that nothing public is left out of it.

Where the code lives, and why it is shaped this way:

- ``engine``: the engine, the read/write transactions with their lock retry, row locking, the event append and
  the fenced change of one delivery;
- ``claims``: intake (``add_post``) and claiming; ``results``: what an attempt achieved, lease renewal and
  reaping, expiry;
- ``actions``: in-doubt reconciliation and the operator's retry / cancel / resolve;
- ``holds``: target holds, incidents, heartbeats; ``queries``: listings and the publish log;
- ``plan``: the content plan's reads and ``add_post_in_slot`` (choose a free slot and insert, atomically);
- ``posts``: posts as editors name them: replace, withdraw, reschedule, cancel; ``post_reading``: finding
  them by id, the ``post list`` summaries and intake's repeat checks;
- ``metrics``: metrics snapshots (append-only) and the reads behind ``publisher metrics`` and the report;
- ``pacing``: the next request slot of each target, shared by every daemon on the database;
- ``blobs``: media bytes by content hash (``media``: the storage interface intake and dispatcher use);
- ``records``: the records handed out and the row mapping; ``sqlite``: the SQLite connection setup.

The concerns are mixins over one ``StoreBase`` rather than free functions taking a connection: callers hold one
``Store`` and call methods on it, each method owns its transaction (``self._write``) and some need the dialect,
so a mixin keeps every method exactly where its callers expect it while each file reads and type-checks as one
concern. What needs no ``self`` (row mapping, the event append, one-row reads) is plain functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from publisher.store.actions import SettlementMixin
from publisher.store.blobs import BlobsMixin
from publisher.store.claims import ClaimsMixin
from publisher.store.holds import UpkeepMixin
from publisher.store.interface import QueueStore
from publisher.store.metrics import MetricsMixin, MetricsRow, PostFacts
from publisher.store.pacing import PacingMixin
from publisher.store.plan import PlanMixin
from publisher.store.post_reading import PostReadingMixin, PostSummary
from publisher.store.posts import PostOutcome, PostsMixin
from publisher.store.queries import ReadingMixin
from publisher.store.records import CLAIMABLE, UNFINISHED, Claim, Heartbeat, Hold
from publisher.store.results import ResultsMixin

__all__ = [
    "CLAIMABLE",
    "UNFINISHED",
    "Claim",
    "Heartbeat",
    "Hold",
    "MetricsRow",
    "PostFacts",
    "PostOutcome",
    "PostSummary",
    "QueueStore",
    "Store",
]


class Store(
    ClaimsMixin,
    ResultsMixin,
    SettlementMixin,
    UpkeepMixin,
    PacingMixin,
    BlobsMixin,
    ReadingMixin,
    PlanMixin,
    PostsMixin,
    PostReadingMixin,
    MetricsMixin,
):
    """One class for both dialects; see the module docstring for the guarantees."""


if TYPE_CHECKING:

    def _implements(store: Store) -> QueueStore:
        """mypy checks here that ``Store`` implements the whole documented interface."""
        return store
