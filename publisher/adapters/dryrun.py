"""Dry run: render and record, call nothing. Lets a newcomer run the whole path with no credentials."""

from __future__ import annotations

from datetime import UTC, datetime

from publisher.adapters.base import Adapter
from publisher.models import AccountInfo, PublishResult, Rendered


class DryRunAdapter(Adapter):
    """Stands in for any network's adapter when dry-run is on (globally or for one target)."""

    network = "dry-run"

    def publish(self, rendered: Rendered, idempotency_key: str) -> PublishResult:
        return PublishResult(
            remote_id=f"dry-run:{idempotency_key}",
            url=None,
            published_at=datetime.now(UTC),
            excerpt="dry run: nothing was sent",
        )

    def check(self) -> AccountInfo:
        return AccountInfo(self.target, "dry run", can_post=True, detail="dry run: no network call")

    def describe(self) -> str:
        return f"{self.target} (dry run)"
