"""A test harness for driving the Dispatcher with the real adapters against the network fakes.

``start_fakes`` runs the network fakes with one set of credentials (``Creds``); ``World`` holds a store, a
controllable clock and a Dispatcher whose backoff is exact (jitter fixed), points every network at its
fake with short timeouts, and records the alerts the dispatcher raises. Used by tests/integration/test_fault_matrix.py
and tests/integration/test_secrets_e2e.py.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.compose.composer import render
from publisher.compose.directory import Directory
from publisher.dispatch.dispatcher import Dispatcher
from publisher.dispatch.retry import RetryPolicy
from publisher.models import Delivery, MediaItem, Post, Rendered, network_of
from publisher.ops.alerts import Incident
from publisher.settings import Settings
from publisher.store import Store
from tests.conftest import FakeClock
from tests.fakes import FAKES, NetworkFake
from tests.media import jpeg_file, png_file

NETWORKS = ("vk", "x", "facebook", "telegram", "instagram")
GROUP = 123
X_USER = "1580000000000000001"
BASE, RECONCILE = 30.0, 60.0  # backoff(1) = 30 s, backoff(2) = 60 s with the jitter fixed at 0


def canary(prefix: str = "") -> str:
    """A long random secret with characters that URL-encoding changes."""
    return prefix + base64.b64encode(os.urandom(30)).decode() + "+/x=:"


@dataclass(frozen=True)
class Creds:
    """Every publishing credential; the fakes accept exactly these."""

    vk: str = field(default_factory=lambda: "vk1.a." + secrets.token_urlsafe(32))
    x: tuple[str, str, str, str] = field(
        default_factory=lambda: (canary(), canary(), canary(f"{X_USER}-"), canary())
    )
    facebook: str = field(default_factory=lambda: "EAA" + secrets.token_urlsafe(40))
    # No "/" here: a Telegram token is a path segment of every Bot API URL.
    telegram: str = field(default_factory=lambda: "7000000001:" + canary().replace("/", "_"))
    instagram: str = field(default_factory=lambda: "EAAig" + canary())

    def fake_arguments(self) -> dict[str, dict[str, Any]]:
        """Per network, the keyword arguments that make its fake accept these credentials."""
        key, key_secret, token, token_secret = self.x
        return {
            "vk": {"token": self.vk, "group_id": GROUP},
            "x": {
                "user_id": X_USER,
                "consumer_key": key,
                "consumer_secret": key_secret,
                "access_token": token,
                "access_token_secret": token_secret,
            },
            "facebook": {"token": self.facebook},
            "telegram": {"token": self.telegram},
            "instagram": {"token": self.instagram},
        }


#: one set for the whole run: every token an adapter sees is registered with the log scrubber for good,
#: so fresh tokens per test would make every later scrub slower
SHARED_CREDS = Creds()


@contextmanager
def start_fakes(
    creds: Creds, networks: tuple[str, ...] = NETWORKS, prebuilt: dict[str, NetworkFake] | None = None
) -> Iterator[dict[str, NetworkFake]]:
    """Start the fakes of ``networks`` (``prebuilt`` ones as given) and stop them afterwards."""
    arguments = creds.fake_arguments()
    fakes = {name: (prebuilt or {}).get(name) or FAKES[name](**arguments[name]) for name in networks}
    for fake in fakes.values():
        fake.start()
    try:
        yield fakes
    finally:
        for fake in fakes.values():
            fake.stop()


#: timeouts generous enough for a loaded machine (a fake's ``time_out`` holds only until the client
#: gives up, so a test that wants a timeout sets a short read with ``World.configure``); no pacing: it
#: waits on the wall clock, and these tests drive time with a fake one
TIMEOUTS = {"connect": 5.0, "read": 5.0, "total": 15.0}
FAST = {"timeouts": TIMEOUTS, "max_per_minute": None}
#: a read timeout for a test that waits for one (a fake's ``time_out`` fault)
SHORT_READ = {"timeouts": TIMEOUTS | {"read": 0.5}}


def section(fake: NetworkFake, **overrides: Any) -> dict[str, Any]:
    """The settings section pointing a target at ``fake``, with short timeouts and no pacing."""
    return fake.service_settings() | FAST | overrides


class World:
    """A store, a clock, the fakes and a dispatcher with exact backoff; records alerts."""

    def __init__(
        self,
        store: Store,
        clock: FakeClock,
        fakes: dict[str, NetworkFake],
        creds: Creds,
        *,
        settings: Settings | None = None,
        overrides: dict[str, dict[str, Any]] | None = None,
        max_attempts: int = 3,
        media_dir: Path | None = None,
    ) -> None:
        self.store, self.clock, self.fakes, self.creds = store, clock, fakes, creds
        self.overrides = overrides or {}
        self.urls = {name: fake.url for name, fake in fakes.items()}
        self.settings = settings or self._settings()
        self.media_dir = media_dir
        self._made_media_dir: Path | None = None  # a folder of its own for pictures, removed by close()
        self.alerts: list[tuple[str, str]] = []
        self.added = 0
        policy = RetryPolicy(
            max_attempts=max_attempts,
            base_seconds=BASE,
            max_seconds=3600,
            reconcile_delay=RECONCILE,
            rng=lambda: 0.5,
        )
        self.dispatcher = Dispatcher(
            store, self.settings, self.render, clock=clock, policy=policy, incidents=self
        )

    def _settings(self) -> Settings:
        sections: dict[str, Any] = {
            name: section(fake, api_url=self.urls[name], **self.overrides.get(name, {}))
            for name, fake in self.fakes.items()
        }
        return Settings(workers=4, dry_run=False, default_expiry_hours=None, **sections)

    @staticmethod
    def render(post: Post, target: str) -> Rendered:
        return render(post, target, Directory.empty())

    def report(self, incident: Incident) -> None:
        self.alerts.append((incident.key, incident.kind))

    def point(self, network: str, url: str) -> None:
        """Point one network somewhere else (a closed port, then back at its fake)."""
        self.urls[network] = url
        self.settings = self._settings()
        self.dispatcher.adapters.reset(self.settings)

    def configure(self, network: str, **overrides: Any) -> None:
        """Replace one network's setting overrides (e.g. ``**SHORT_READ``) from the next attempt on."""
        self.overrides[network] = overrides
        self.settings = self._settings()
        self.dispatcher.adapters.reset(self.settings)

    def add(self, *targets: str, media: int = 0, link: str | None = None) -> int:
        """Queue one post (a distinct text each time) to ``targets``; returns the first delivery id."""
        self.added += 1
        items: tuple[MediaItem, ...] = ()
        instagram = any(network_of(t) == "instagram" for t in targets)
        if instagram:
            media = max(media, 1)  # Instagram publishes only posts with a picture, and only a JPEG
        if media:
            if self.media_dir is None:
                self.media_dir = self._made_media_dir = Path(tempfile.mkdtemp(prefix="world-media-"))
            picture, suffix = (jpeg_file, "jpg") if instagram else (png_file, "png")
            items = tuple(picture(self.media_dir / f"p{self.added}-{i}.{suffix}", i) for i in range(media))
        post = Post(
            source_name=f"post-{self.added}.md",
            source_key=secrets.token_hex(16),
            targets=targets,
            approved_by="редактор дня",
            body=f"Выставка редких книг в читальном зале №{self.added} — приходите!",
            media=items,
            link=link,
        )
        post_id, _ = self.store.add_post(post, self.clock())
        (first,) = [d.id for d in self.store.deliveries(post_id=post_id) if d.target == targets[0]]
        return first

    def drain(self) -> None:
        self.dispatcher.reap()
        self.dispatcher.run_until_idle(timeout=60)

    def get(self, delivery_id: int) -> Delivery:
        found = self.store.get_delivery(delivery_id)
        assert found is not None
        return found

    def statuses(self, delivery_id: int) -> list[str]:
        return [e.status for e in self.store.events(delivery_id=delivery_id)]

    def assert_published_once(self, delivery_id: int, network: str) -> None:
        d = self.get(delivery_id)
        fake = self.fakes[network]
        assert d.state.value == "published", d.last_error
        assert len(fake.applied) == 1 and [p.remote_id for p in fake.posts] == [d.remote_id]
        assert d.remote_url

    def close(self) -> None:
        self.dispatcher.stop(5)
        self.dispatcher.adapters.reset()
        if self._made_media_dir is not None:
            shutil.rmtree(self._made_media_dir, ignore_errors=True)
