"""Tables of the queue store, and numbered migrations.

Times are stored as UTC: ``UTCDateTime`` strips the zone on the way in (after converting to UTC) and puts
UTC back on the way out, so SQLite (no zone support) and PostgreSQL (timestamptz) behave the same.
Lists and mappings are JSON text, never pickles.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Dialect


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

posts = Table(
    "posts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_key", String(64), nullable=False, unique=True),
    Column("source_name", Text, nullable=False),
    Column("approved_by", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("rubric", Text),
    Column("hashtags", Text, nullable=False, default="[]"),
    Column("mentions", Text, nullable=False, default="[]"),
    Column("media", Text, nullable=False, default="[]"),
    Column("overrides", Text, nullable=False, default="{}"),
    Column("link", Text),
    Column("publish_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    # Schema v3: the post's identity as editors name it (``id:`` in the file, else the file name; NULL for
    # posts stored before identities), the hash of its current revision (``source_key`` keeps the first one,
    # so idempotency keys stay stable across replacements), who wrote it, and how often it was replaced.
    Column("post_key", Text),
    Column("content_key", String(64)),
    Column("author", Text),
    Column("revision", Integer, nullable=False, default=1, server_default=text("1")),
    Column("updated_at", UTCDateTime),
)
Index("ux_posts_post_key", posts.c.post_key, unique=True)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("post_id", Integer, ForeignKey("posts.id"), nullable=False),
    Column("target", String(100), nullable=False),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", UTCDateTime, nullable=False),
    # When the delivery may next be claimed (queued / retry_wait) or reconciled (in_doubt).
    Column("next_at", UTCDateTime),
    Column("lease_until", UTCDateTime),
    Column("attempt_id", String(40)),
    Column("attempt_started_at", UTCDateTime),
    # Set (and committed) just before the network call: a lease that expires with this unset was never sent.
    Column("sending_at", UTCDateTime),
    Column("claimed_by", String(200)),
    Column("rendered_text", Text),
    # What the attempt sent (SentPost as JSON: text, link, media names, parse mode), for reconciliation (v8).
    Column("sent", Text),
    Column("reconcile_checks", Integer, nullable=False, default=0),
    Column("remote_id", Text),
    Column("remote_url", Text),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # The post's expiry, copied here (schema v2) so finding expired waiting deliveries is an index range.
    Column("expires_at", UTCDateTime),
    UniqueConstraint("post_id", "target", name="uq_delivery_post_target"),
)
Index("ix_deliveries_state_next", deliveries.c.state, deliveries.c.next_at)
Index("ix_deliveries_state_expires", deliveries.c.state, deliveries.c.expires_at)
Index("ix_deliveries_lease", deliveries.c.state, deliveries.c.lease_until)
# The content plan's period queries (and its calendar, refreshed by housekeeping) read by due time (v5).
Index("ix_deliveries_due", deliveries.c.due_at)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("time", UTCDateTime, nullable=False),
    Column("post_id", Integer),
    Column("delivery_id", Integer),
    Column("target", String(100)),
    Column("status", String(40), nullable=False),
    Column("remote_id", Text),
    Column("url", Text),
    Column("error", Text),
    Column("detail", Text, nullable=False, default="{}"),
)
Index("ix_events_time", events.c.time)
Index("ix_events_post", events.c.post_id)
Index("ix_events_delivery", events.c.delivery_id)

# A target that may not be claimed: an operator or auth pause (until NULL) or a rate-limit hold (until set).
holds = Table(
    "holds",
    metadata,
    Column("target", String(100), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("until", UTCDateTime),
)

# One pace per target shared by every daemon on this database: the earliest moment (Unix time in
# microseconds, exact integer arithmetic in both dialects) at which the next request to the target may go.
pacing = Table(
    "pacing",
    metadata,
    Column("target", String(100), primary_key=True),
    Column("next_slot_us", BigInteger, nullable=False),
)

# Accepted media, content-addressed (schema v7): every daemon, on any host, reads a post's images from here.
media = Table(
    "media",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("mime", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
)

heartbeats = Table(
    "heartbeats",
    metadata,
    Column("daemon_id", String(200), primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
    Column("stopped_at", UTCDateTime),
    Column("status", Text, nullable=False, default=""),
)


# Append-only: one row per look at a published delivery's figures; the newest row per delivery is current.
snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("delivery_id", Integer, ForeignKey("deliveries.id"), nullable=False),
    Column("taken_at", UTCDateTime, nullable=False),
    Column("views", BigInteger),
    Column("likes", BigInteger),
    Column("reposts", BigInteger),
    Column("comments", BigInteger),
    Column("impressions", BigInteger),
    Column("reach", BigInteger),
    Column("available", Boolean, nullable=False),
    # Why figures are missing (all of them, or some): shown in the report.
    Column("reason", Text, nullable=False, default=""),
    # A scrubbed excerpt of the network's answer, for questions asked later.
    Column("raw", Text, nullable=False, default=""),
)
Index("ix_snapshots_delivery", snapshots.c.delivery_id, snapshots.c.id)


def _create_current(conn: Connection) -> None:
    """A new database gets the current schema in one go (then no migration step applies)."""
    metadata.create_all(conn, tables=[t for t in metadata.sorted_tables if t.name != "schema_version"])


def _v2(conn: Connection) -> None:
    """Expiry on deliveries, indexed: the housekeeping query no longer joins every waiting delivery."""
    kind = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    conn.execute(text(f"ALTER TABLE deliveries ADD COLUMN expires_at {kind}"))
    conn.execute(
        text(
            "UPDATE deliveries SET expires_at = (SELECT posts.expires_at FROM posts WHERE posts.id = deliveries.post_id)"
        )
    )
    conn.execute(text("CREATE INDEX ix_deliveries_state_expires ON deliveries (state, expires_at)"))


def _v3(conn: Connection) -> None:
    """Post identity: replacing or withdrawing a queued post by dropping its file again."""
    kind = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    for column in ("post_key TEXT", "content_key VARCHAR(64)", "author TEXT", f"updated_at {kind}"):
        conn.execute(text(f"ALTER TABLE posts ADD COLUMN {column}"))
    conn.execute(text("ALTER TABLE posts ADD COLUMN revision INTEGER NOT NULL DEFAULT 1"))
    conn.execute(
        text("UPDATE posts SET content_key = source_key, author = approved_by, updated_at = created_at")
    )
    conn.execute(text("CREATE UNIQUE INDEX ux_posts_post_key ON posts (post_key)"))


def _v4(conn: Connection) -> None:
    """Metrics snapshots of published deliveries (append-only)."""
    snapshots.create(conn, checkfirst=True)


def _v5(conn: Connection) -> None:
    """Deliveries by due time indexed: the plan's calendar, refreshed by housekeeping, reads no history."""
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_deliveries_due ON deliveries (due_at)"))


def _v6(conn: Connection) -> None:
    """The shared pace per target (several daemons on one database stay at the configured rate)."""
    pacing.create(conn, checkfirst=True)  # idempotent: tests that rebuild an older database keep it


def _v7(conn: Connection) -> None:
    """Media in the database, so a post accepted on one host can be published from another."""
    media.create(conn, checkfirst=True)


def _v8(conn: Connection) -> None:
    """What an attempt sent, recorded with ``mark_sending``: reconciliation recognises the post by it."""
    if "sent" not in {c["name"] for c in inspect(conn).get_columns("deliveries")}:  # idempotent, like v6/v7
        conn.execute(text("ALTER TABLE deliveries ADD COLUMN sent TEXT"))


#: Numbered migrations of an existing database: (version, step). Append; never edit a released one.
MIGRATIONS: list[tuple[int, Callable[[Connection], Any]]] = [
    (1, _create_current),
    (2, _v2),
    (3, _v3),
    (4, _v4),
    (5, _v5),
    (6, _v6),
    (7, _v7),
    (8, _v8),
]
LATEST = MIGRATIONS[-1][0]


def current_version(conn: Connection) -> int:
    schema_version.create(conn, checkfirst=True)
    found = conn.execute(select(schema_version.c.version)).scalar()
    return int(found or 0)


def migrate(conn: Connection) -> list[int]:
    """Apply pending migrations inside the caller's transaction; return the versions applied."""
    version = current_version(conn)
    if version > LATEST:
        raise RuntimeError(
            f"the database schema is version {version}, newer than this program knows ({LATEST}): "
            "upgrade publisher before running it against this database"
        )
    applied = []
    if version == 0:
        _create_current(conn)
        applied.append(LATEST)
    else:
        for number, step in MIGRATIONS:
            if number > version:
                step(conn)
                applied.append(number)
    if applied:
        conn.execute(text("DELETE FROM schema_version"))
        conn.execute(schema_version.insert().values(version=applied[-1]))
    return applied
