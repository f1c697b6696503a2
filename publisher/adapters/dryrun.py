"""Dry run: render and record, call nothing. Lets a newcomer run the whole path with no credentials."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import requests

from publisher.adapters.base import Adapter, Answer, Posted, Prepared
from publisher.models import AccountInfo, PublishResult, Rendered
from publisher.settings import NetworkSettings


class DryRunAdapter(Adapter):
    """Stands in for any network's adapter when dry-run is on (globally or for one target)."""

    network = "dry-run"

    def __init__(self, target: str, settings: NetworkSettings, session: requests.Session | None = None):
        # No credentials are needed and nothing is called: none of Adapter.__init__'s checks apply.
        self.target = target
        self.settings = settings
        self.session = session or requests.Session()

    def prepare(self, rendered: Rendered, stop: threading.Event | None = None) -> Prepared:
        return Prepared()  # nothing is uploaded

    def publish(
        self, rendered: Rendered, idempotency_key: str, prepared: Prepared | None = None
    ) -> PublishResult:
        """Nothing is checked or sent: the composer already checked the post against the network."""
        return PublishResult(
            remote_id=f"dry-run:{idempotency_key}",
            url=None,
            published_at=datetime.now(UTC),
            excerpt="dry run: nothing was sent",
        )

    def send_post(self, rendered: Rendered, media: list[str], idempotency_key: str) -> Answer:
        raise NotImplementedError("a dry run sends nothing")  # publish() above never calls it

    def parse_answer(self, answer: Answer, media: list[str]) -> Posted | None:
        raise NotImplementedError("a dry run sends nothing")

    def check(self) -> AccountInfo:
        return AccountInfo(self.target, "dry run", can_post=True, detail="no network call")

    def describe(self) -> str:
        return f"{self.target} (dry run)"
