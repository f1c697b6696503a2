"""Media bytes in the database, keyed by their SHA-256: written once, read by every daemon on the database.

The SQL half of ``publisher.store.media.DatabaseMedia``; the interface and the choice of storage live there.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from publisher.store.engine import StoreBase
from publisher.store.schema import media


class BlobsMixin(StoreBase):
    def has_media(self, sha256: str) -> bool:
        with self._read() as conn:
            return conn.execute(select(media.c.sha256).where(media.c.sha256 == sha256)).first() is not None

    def put_media(self, sha256: str, mime: str, data: bytes, now: datetime) -> bool:
        """Keep ``data`` under its hash unless it is already there (content never changes). True when new."""
        statement = (
            self._insert(media)
            .values(sha256=sha256, mime=mime, size=len(data), data=data, created_at=now)
            .on_conflict_do_nothing()
        )

        def work(conn: Connection) -> bool:
            return bool(conn.execute(statement).rowcount)

        return self._write(work)

    def media_bytes(self, sha256: str) -> bytes | None:
        with self._read() as conn:
            found = conn.execute(select(media.c.data).where(media.c.sha256 == sha256)).scalar()
        return None if found is None else bytes(found)
