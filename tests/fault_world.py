"""A test harness for driving the Dispatcher with the real adapters against the network fakes.

``start_fakes`` runs the four fakes with one set of credentials (``Creds``); ``World`` holds a store, a
controllable clock and a Dispatcher whose backoff is exact (jitter fixed), points every network at its
fake with short timeouts, and records the alerts the dispatcher raises. Used by tests/integration/test_fault_matrix.py
and tests/integration/test_secrets_e2e.py.
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.compose.composer import render
from publisher.compose.directory import Directory
from publisher.dispatch.dispatcher import Dispatcher
from publisher.dispatch.retry import RetryPolicy
from publisher.models import Delivery, MediaItem, Post, Rendered
from publisher.settings import Settings
from publisher.store import Store
from tests.conftest import FakeClock
from tests.fakes.base import FakeServer
from tests.fakes.facebook import FakeFacebook
from tests.fakes.telegram import FakeTelegram
from tests.fakes.vk import FakeVk
from tests.fakes.x import FakeX
from tests.media import png_file

NETWORKS = ("vk", "x", "facebook", "telegram")
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


#: one set for the whole run: every token an adapter sees is registered with the log scrubber for good,
#: so fresh tokens per test would make every later scrub slower
SHARED_CREDS = Creds()


@contextmanager
def start_fakes(
    creds: Creds, networks: tuple[str, ...] = NETWORKS, prebuilt: dict[str, FakeServer] | None = None
) -> Iterator[dict[str, FakeServer]]:
    """Start the fakes of ``networks`` (``prebuilt`` ones as given) and stop them afterwards."""
    fakes: dict[str, FakeServer] = {}
    for name in networks:
        if prebuilt and name in prebuilt:
            fakes[name] = prebuilt[name]
        elif name == "vk":
            fakes[name] = FakeVk(creds.vk, GROUP)
        elif name == "x":
            key, key_secret, token, token_secret = creds.x
            fakes[name] = FakeX(
                user_id=X_USER,
                consumer_key=key,
                consumer_secret=key_secret,
                access_token=token,
                access_token_secret=token_secret,
            )
        elif name == "facebook":
            fb = FakeFacebook()
            fb.token = creds.facebook
            fakes[name] = fb
        else:
            fakes[name] = FakeTelegram(creds.telegram)
        fakes[name].start()
    try:
        yield fakes
    finally:
        for fake in fakes.values():
            fake.stop()


def sections(creds: Creds, urls: dict[str, str], chat: str = "@library_news") -> dict[str, Any]:
    """Settings sections pointing each network at its fake, with short timeouts."""
    timeouts = {"connect": 0.5, "read": 0.5, "total": 3.0}
    found: dict[str, Any] = {}
    for name, url in urls.items():
        # No pacing: it waits on the wall clock, and these tests drive time with a fake one.
        common = {"api_url": url, "timeouts": timeouts, "max_per_minute": None}
        if name == "vk":
            found[name] = common | {"access_token": creds.vk, "group_id": GROUP}
        elif name == "x":
            keys = dict(
                zip(("api_key", "api_secret", "access_token", "access_token_secret"), creds.x, strict=True)
            )
            found[name] = common | keys | {"username": "bntu_library"}
        elif name == "facebook":
            found[name] = common | {"page_id": FakeFacebook().page_id, "page_access_token": creds.facebook}
        else:
            found[name] = common | {"bot_token": creds.telegram, "chat_id": chat}
    return found


def remote_ids(network: str, fake: Any) -> list[str]:
    """The ids of the posts the fake network holds, as the adapters record them."""
    if network == "vk":
        return [f"-{GROUP}_{p.id}" for p in fake.posts]
    if network == "x":
        return [p["id"] for p in fake.posts]
    if network == "facebook":
        return [p.id for p in fake.posts]
    return [str(m["message_id"]) for m in fake.channel.messages]


class World:
    """A store, a clock, the fakes and a dispatcher with exact backoff; records alerts."""

    def __init__(
        self,
        store: Store,
        clock: FakeClock,
        fakes: dict[str, FakeServer],
        creds: Creds,
        *,
        settings: Settings | None = None,
        chat: str = "@library_news",
        max_attempts: int = 3,
        media_dir: Path | None = None,
    ) -> None:
        self.store, self.clock, self.fakes, self.creds, self.chat = store, clock, fakes, creds, chat
        self.urls = {name: fake.url for name, fake in fakes.items()}
        self.settings = settings or self._settings()
        self.media_dir = media_dir
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
        return Settings(
            workers=4,
            dry_run=False,
            default_expiry_hours=None,
            **sections(self.creds, self.urls, self.chat),
        )

    @staticmethod
    def render(post: Post, target: str) -> Rendered:
        return render(post, target, Directory.empty())

    def report(self, key: str, kind: str, title: str, text: str, **ids: Any) -> None:
        self.alerts.append((key, kind))

    def point(self, network: str, url: str) -> None:
        """Point one network somewhere else (a closed port, then back at its fake)."""
        self.urls[network] = url
        self.settings = self._settings()
        self.dispatcher.adapters.reset(self.settings)

    def add(self, *targets: str, media: int = 0) -> int:
        """Queue one post (a distinct text each time) to ``targets``; returns the first delivery id."""
        self.added += 1
        items: tuple[MediaItem, ...] = ()
        if media:
            assert self.media_dir is not None
            items = tuple(png_file(self.media_dir / f"p{self.added}-{i}.png", i) for i in range(media))
        post = Post(
            source_name=f"post-{self.added}.md",
            source_key=secrets.token_hex(16),
            targets=targets,
            approved_by="редактор дня",
            body=f"Выставка редких книг в читальном зале №{self.added} — приходите!",
            media=items,
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
        ids = remote_ids(network, fake)
        assert d.state.value == "published", d.last_error
        assert len(fake.applied) == 1 and ids == [d.remote_id]
        assert d.remote_url

    def close(self) -> None:
        self.dispatcher.stop(5)
        self.dispatcher.adapters.reset()
