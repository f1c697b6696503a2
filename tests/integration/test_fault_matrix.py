"""The API fault matrix, driven through the Dispatcher with the real adapters against the network fakes.

Each case makes one network fail in one way on the first attempt and checks what an operator would see:
the delivery's state, its attempts and next time, the publish log, the alert, and how many posts the
fake network really holds. Then the clock moves on and the queue drains again, to show what happens
next: retries at the exact backoff times, rate-limited targets waiting for the reset without burning
attempts, paused targets waiting for ``release_target``, in-doubt deliveries never re-sent on X, Facebook
and Telegram but reconciled, and VK re-sending with its ``guid`` so that the wall still has one post.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.adapters.x_errors import USAGE_CAP_RECHECK
from publisher.cli import main
from publisher.store import Store
from tests.conftest import FakeClock
from tests.fakes import FakeVk, NetworkFake
from tests.fakes.facebook import PHOTOS_PATH
from tests.fakes.instagram import MEDIA_PATH
from tests.fakes.x import REPLY_NOT_ALLOWED, UPLOAD, FakeX
from tests.fault_world import BASE, NETWORKS, RECONCILE, SHARED_CREDS, SHORT_READ, Creds, World, start_fakes
from tests.helpers import closed_url

Inject = Callable[[Any], datetime | None]


@dataclass(frozen=True)
class Case:
    network: str
    fault: str
    inject: Inject
    outcome: str  # retry | hold | pause | fail | in_doubt
    cause: str  # a fragment of the error the operator reads
    applied: int  # posts the fake really made on the first attempt
    wait: float = 0.0  # hold: seconds until the reset (when inject does not return the instant)
    media: int = 0
    settings: tuple[tuple[str, str], ...] = ()  # overrides of the network's settings section
    closed: bool = False
    short_read: bool = False  # the first attempt waits for the client's read timeout: make it short

    @property
    def id(self) -> str:
        return f"{self.network}-{self.fault}"


def _call(name: str, *args: Any, **kw: Any) -> Inject:
    def inject(fake: Any) -> datetime | None:
        result = getattr(fake, name)(*args, **kw)
        return datetime.fromtimestamp(result, UTC) if isinstance(result, int) else None

    return inject


def _nothing(fake: Any) -> None:
    return None


#: where a network's API lets reconciliation search for an in-doubt post: all but the Bot API, which
#: cannot read a channel's history
CANNOT_SEARCH = ("telegram",)
#: networks that deduplicate a repeat by an idempotency key the adapter sends (VK's wall.post guid)
KEY_PARAM = {"vk": "guid"}
NUMERIC_CHAT = (("chat_id", "-1001234567890"),)  # Telegram asks getChat for a numeric chat id
CASES = [
    # VK deduplicates by guid: whatever may have been applied is simply re-sent.
    Case("vk", "http-503", _call("server_error", 503), "retry", "server error on wall.post", 0),
    Case("vk", "error-10", _call("vk_error", 10), "retry", "server trouble", 0),
    Case("vk", "http-429", _call("http_429", 120), "hold", "too many requests", 0, wait=120),
    Case("vk", "error-6", _call("vk_error", 6), "hold", "error 6", 0, wait=1),
    Case("vk", "error-9", _call("vk_error", 9), "hold", "flood control", 0, wait=300),
    Case("vk", "error-29", _call("vk_error", 29), "hold", "rate limit reached", 0, wait=3600),
    Case("vk", "auth-5", _call("vk_error", 5), "pause", "access token is invalid", 0),
    Case("vk", "hyperlinks", _call("vk_error", 222), "fail", "hyperlinks", 0),
    Case("vk", "captcha", _call("vk_error", 14), "fail", "captcha", 0),
    Case("vk", "invalid-param", _call("vk_error", 100), "fail", "error 100", 0),
    # X: no idempotency key; the account's timeline tells whether an in-doubt post exists.
    Case("x", "http-503", _call("server_error", 503), "in_doubt", "answered 503", 0),
    Case("x", "429-reset", _call("rate_limit", 600), "hold", "rate limit", 0),
    Case("x", "429-daily", _call("rate_limit", 7200, daily=True), "hold", "rate limit", 0),
    Case("x", "401", _call("revoke_token"), "pause", "rejected the app keys", 0),
    Case("x", "403-read-only", _call("forbid"), "pause", "read and write", 0),
    Case("x", "duplicate", _call("reject_duplicate"), "fail", "duplicate", 0),
    Case("x", "too-long", _call("reject_invalid"), "fail", "too long", 0),
    Case("x", "upload-503", _call("server_error", 503, path=UPLOAD), "retry", "unavailable", 0, media=1),
    # Facebook: no idempotency key; the Page feed tells.
    Case("facebook", "http-500", _call("server_error", 500), "in_doubt", "temporary failure", 0),
    Case("facebook", "throttle-32", _call("throttle", 32, 5), "hold", "page request limit", 0, wait=300),
    Case("facebook", "throttle-4", _call("throttle", 4, 5, "X-App-Usage"), "hold", "error 4", 0, wait=60),
    Case(
        "facebook",
        "throttle-80001",
        _call("throttle", 80001, 10, "X-Business-Use-Case-Usage"),
        "hold",
        "too many calls",
        0,
        wait=600,
    ),
    Case("facebook", "token-190", _call("revoke_token"), "pause", "token is invalid or has expired", 0),
    Case("facebook", "permission-200", _call("deny_permission"), "pause", "pages_manage_posts", 0),
    Case("facebook", "duplicate", _call("reject_duplicate"), "fail", "duplicate", 0),
    Case("facebook", "policy", _call("block_for_policy"), "fail", "policy", 0),
    Case(
        "facebook",
        "upload-500",
        _call("transient_failure", 500, PHOTOS_PATH),
        "retry",
        "temporary failure",
        0,
        media=2,
    ),
    # Instagram: no idempotency key; the account's media tells. Containers are never in doubt.
    Case("instagram", "http-500", _call("server_error", 500), "in_doubt", "temporary failure", 0),
    Case("instagram", "throttle-80002", _call("rate_limit", 600), "hold", "request limit", 0, wait=600),
    Case(
        "instagram",
        "publish-limit",
        _call("fail", 9, "You reached maximum number of posts", subcode=2207042),
        "hold",
        "request limit",
        0,
        wait=60,
    ),
    Case("instagram", "app-throttle-4", _call("app_throttle"), "hold", "error 4", 0, wait=60),
    Case("instagram", "token-190", _call("revoke_token"), "pause", "invalid or has expired", 0),
    Case(
        "instagram", "permission-10", _call("fail", 10, "(#10) No permission"), "pause", "content_publish", 0
    ),
    Case("instagram", "spam", _call("fail", 4, "We restrict", subcode=2207051), "fail", "spam", 0),
    Case("instagram", "container-error", _call("fail_processing", "2207009"), "fail", "aspect ratio", 0),
    Case("instagram", "container-500", _call("server_error", 503, path=MEDIA_PATH), "retry", "temporary", 0),
    # Telegram: no idempotency key and no way to read the channel: in doubt stays in doubt.
    Case("telegram", "http-500", _call("server_error", 500), "in_doubt", "server error on sendmessage", 0),
    Case("telegram", "429", _call("rate_limit", 7), "hold", "retry after 7", 0, wait=7),
    Case("telegram", "401", _call("revoke_token"), "pause", "token was rejected", 0),
    Case("telegram", "403", _call("fail_forbidden"), "pause", "may not post", 0),
    Case("telegram", "too-long", _call("fail_bad_request"), "fail", "message is too long", 0),
    Case(
        "telegram",
        "getchat-500",
        _call("server_error", 500, path="/getChat$"),
        "retry",
        "server error on getchat",
        0,
        settings=NUMERIC_CHAT,
    ),
]
#: per network: what follows when the publishing call may have been applied (VK re-sends with its guid,
#: the others wait for reconciliation), and the error's words for a success answer without an id
AFTER_SEND = {
    "vk": ("retry", "no post id"),
    "x": ("in_doubt", "no post id"),
    "facebook": ("in_doubt", "no post id"),
    "telegram": ("in_doubt", "no post id"),
    "instagram": ("in_doubt", "no post id"),
}
#: the same transport faults on every network's publishing call: (name, fault, cause, posts made)
SHARED = [
    ("drop-before", _call("drop_request"), "no answer", 0),
    ("drop-after", _call("lose_answer"), "no answer", 1),
    ("malformed", _call("malformed_answer"), "malformed json", 1),
]
for _network, (_after, _no_id) in AFTER_SEND.items():
    CASES += [Case(_network, name, inject, _after, cause, made) for name, inject, cause, made in SHARED]
    CASES.append(Case(_network, "timeout-after", _call("time_out"), _after, "no answer", 1, short_read=True))
    CASES += [
        Case(_network, "no-id", _call("answer_without_id"), _after, _no_id, 1),
        Case(_network, "refused", _nothing, "retry", "could not reach", 0, closed=True),
    ]
STATE = {"retry": "retry_wait", "hold": "queued", "pause": "queued", "fail": "failed", "in_doubt": "in_doubt"}
EVENT = {"retry": "retry_wait", "hold": "rate_limited", "pause": "released", "fail": "failed"}
INCIDENT = {"pause": "paused", "fail": "failed", "in_doubt": "in_doubt"}


@pytest.fixture
def clock() -> FakeClock:
    # Near real time: the fakes stamp posts with the wall clock and reconcile compares the two.
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def creds() -> Creds:
    return SHARED_CREDS


@pytest.fixture
def make_world(
    store: Store, clock: FakeClock, creds: Creds, tmp_path: Path
) -> Iterator[Callable[..., World]]:
    """Start the fakes of some networks and build a World on them (cleaned up after the test)."""
    opened: list[tuple[World, Any]] = []

    def make(networks: tuple[str, ...] = NETWORKS, **kw: Any) -> World:
        manager = start_fakes(creds, networks)
        fakes = manager.__enter__()
        world = World(store, clock, fakes, creds, media_dir=tmp_path, **kw)
        opened.append((world, manager))
        return world

    yield make
    for world, manager in opened:
        world.close()
        manager.__exit__(None, None, None)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(case: Case, make_world: Callable[..., World], clock: FakeClock) -> None:
    world = make_world((case.network,), overrides={case.network: dict(case.settings)})
    fake = world.fakes[case.network]
    if case.closed:
        world.point(case.network, closed_url())
    if case.short_read:
        world.configure(case.network, **dict(case.settings), **SHORT_READ)
    t0 = clock()
    did = world.add(case.network, media=case.media)
    instant = case.inject(fake)
    world.drain()
    world.configure(case.network, **dict(case.settings))

    d = world.get(did)
    assert d.state.value == STATE[case.outcome], d.last_error
    assert d.attempts == (0 if case.outcome in ("hold", "pause") else 1)
    assert len(fake.applied) == case.applied
    assert world.statuses(did) == ["enqueued", "publishing", EVENT.get(case.outcome, case.outcome)]
    assert [kind for _, kind in world.alerts] == (
        [INCIDENT[case.outcome]] if case.outcome in INCIDENT else []
    )
    {"retry": _then_retry, "hold": _then_hold, "pause": _then_pause, "fail": _then_fail}.get(
        case.outcome, _then_in_doubt
    )(case, world, did, t0, instant)


def _then_retry(case: Case, world: World, did: int, t0: datetime, instant: datetime | None) -> None:
    """Transient (or in doubt on VK, which drops a repeat with the same guid): again after the backoff."""
    d = world.get(did)
    assert d.not_before == t0 + timedelta(seconds=BASE)
    assert case.cause in (d.last_error or "").lower()
    if case.closed:
        world.point(case.network, world.fakes[case.network].url)  # the network is back
    world.clock.now = t0 + timedelta(seconds=BASE - 1)
    world.drain()
    assert world.get(did).state.value == "retry_wait"
    world.clock.now = t0 + timedelta(seconds=BASE)
    world.drain()
    world.assert_published_once(did, case.network)  # VK: the repeat made no second post
    assert world.statuses(did)[3:] == ["publishing", "published"]
    key = KEY_PARAM.get(case.network)
    if key and not case.closed:
        fake = world.fakes[case.network]
        sent = [r.param(key) for r in fake.requests if fake.is_publish(r)]
        assert sent == [d.idempotency_key] * 2  # the same key both times


def _then_hold(case: Case, world: World, did: int, t0: datetime, instant: datetime | None) -> None:
    """Rate limited: the target waits until the reset; the attempt is not counted."""
    until = instant or t0 + timedelta(seconds=case.wait)
    # The target is held until the reset; the delivery keeps its place (its due time) in the queue.
    assert world.get(did).not_before == world.get(did).due_at
    (hold,) = world.store.holds(world.clock())
    assert (hold.target, hold.until) == (case.network, until)
    assert case.cause in hold.reason.lower()
    world.clock.now = until - timedelta(seconds=1)
    world.drain()
    d = world.get(did)
    assert (d.state.value, d.attempts, len(world.fakes[case.network].applied)) == ("queued", 0, 0)
    world.clock.now = until
    world.drain()
    world.assert_published_once(did, case.network)
    assert world.get(did).attempts == 1


def _then_pause(case: Case, world: World, did: int, t0: datetime, instant: datetime | None) -> None:
    """Auth trouble: the target is paused until an operator resumes it; time alone does not help."""
    (hold,) = world.store.holds(world.clock())
    assert hold.until is None and case.cause in hold.reason.lower()
    world.clock.advance(hours=6)
    world.drain()
    assert world.get(did).state.value == "queued" and not world.fakes[case.network].applied
    world.store.release_target(case.network, world.clock(), "operator")
    world.drain()
    world.assert_published_once(did, case.network)


def _then_fail(case: Case, world: World, did: int, t0: datetime, instant: datetime | None) -> None:
    """Permanent: nothing more happens on its own."""
    assert case.cause in (world.get(did).last_error or "").lower()
    world.clock.advance(hours=6)
    world.drain()
    world.dispatcher.reconcile()
    assert world.get(did).state.value == "failed" and not world.fakes[case.network].applied
    assert world.statuses(did).count("publishing") == 1


def _then_in_doubt(case: Case, world: World, did: int, t0: datetime, instant: datetime | None) -> None:
    """Never re-sent; reconciled where the network can be searched, else left for an operator."""
    fake = world.fakes[case.network]
    d = world.get(did)
    assert case.cause in (d.last_error or "").lower()
    assert d.not_before == t0 + timedelta(seconds=RECONCILE)  # the first reconciliation check
    world.clock.advance(hours=2)
    world.drain()  # draining never picks an in-doubt delivery up
    assert world.statuses(did).count("publishing") == 1
    world.dispatcher.reconcile()
    if case.network in CANNOT_SEARCH:
        assert world.get(did).state.value == "in_doubt"
        assert world.statuses(did)[-1] == "in_doubt_checked"
        world.clock.advance(hours=6)
        world.drain()
        world.dispatcher.reconcile()
        assert world.get(did).state.value == "in_doubt"
        assert len(fake.applied) == case.applied and world.statuses(did).count("publishing") == 1
        return
    if case.applied:
        world.assert_published_once(did, case.network)  # found on the network: the lost answer's post
        assert world.statuses(did)[-1] == "published"
        assert world.statuses(did).count("publishing") == 1
    else:
        assert world.get(did).state.value == "queued"  # certainly absent: back to the queue
        world.drain()
        world.assert_published_once(did, case.network)
        assert world.statuses(did).count("publishing") == 2


# --- histories over several attempts -------------------------------------------------------------

#: a failure before anything was published, twice in a row: (the call that fails, the pictures the post
#: needs for that call, settings overrides)
TWICE: dict[str, tuple[str | None, int, tuple[tuple[str, str], ...]]] = {
    "vk": (None, 0, ()),  # VK's front answers 503: nothing applied, and wall.post carries a guid
    "x": (UPLOAD, 1, ()),
    "facebook": (PHOTOS_PATH, 2, ()),
    "telegram": ("/getChat$", 0, NUMERIC_CHAT),
    "instagram": (MEDIA_PATH, 1, ()),  # a container refused: no post exists yet
}


def publish_calls(fake: NetworkFake) -> int:
    return sum(1 for r in fake.requests if fake.is_publish(r))


@pytest.mark.parametrize("network", NETWORKS)
def test_transient_failures_retry_at_the_backoff_times_then_publish(
    network: str, make_world: Callable[..., World], clock: FakeClock
) -> None:
    path, media, settings = TWICE[network]
    world = make_world((network,), overrides={network: dict(settings)})
    t0 = clock()
    did = world.add(network, media=media)
    world.fakes[network].server_error(503, times=2, path=path)
    world.drain()
    assert world.get(did).not_before == t0 + timedelta(seconds=30)
    clock.now = t0 + timedelta(seconds=30)
    world.drain()
    d = world.get(did)
    assert (d.state.value, d.attempts, d.not_before) == ("retry_wait", 2, t0 + timedelta(seconds=90))
    clock.now = t0 + timedelta(seconds=89)
    world.drain()
    assert world.get(did).attempts == 2
    clock.now = t0 + timedelta(seconds=90)
    world.drain()
    world.assert_published_once(did, network)
    sends = world.store.events(delivery_id=did, status="publishing")
    assert [e.time - t0 for e in sends] == [timedelta(seconds=s) for s in (0, 30, 90)]
    assert world.alerts == []


@pytest.mark.parametrize("network", NETWORKS)
def test_exhausted_retries_fail_with_the_whole_history(
    network: str, make_world: Callable[..., World], clock: FakeClock
) -> None:
    world = make_world((network,), max_attempts=3)
    world.point(network, closed_url())
    t0 = clock()
    did = world.add(network)
    for offset in (0, 30, 90):
        clock.now = t0 + timedelta(seconds=offset)
        world.drain()
    d = world.get(did)
    assert d.state.value == "failed" and d.attempts == 3
    assert "gave up after 3 attempts" in (d.last_error or "") and "could not reach" in (d.last_error or "")
    history = world.store.events(delivery_id=did)
    assert [e.status for e in history] == [
        "enqueued",
        *["publishing", "retry_wait"] * 2,
        "publishing",
        "failed",
    ]
    waits = [e.detail["not_before"] for e in history if e.status == "retry_wait"]
    assert waits == [(t0 + timedelta(seconds=s)).isoformat() for s in (30, 90)]
    assert all("could not reach" in (e.error or "") for e in history if e.status == "retry_wait")
    assert world.alerts == [(f"failed:{did}", "failed")]
    assert not world.fakes[network].requests  # nothing ever reached the network


@pytest.mark.parametrize("network", NETWORKS)
def test_rate_limited_target_waits_without_burning_attempts_while_others_publish(
    network: str, make_world: Callable[..., World], clock: FakeClock
) -> None:
    world = make_world(max_attempts=2)
    fake = world.fakes[network]
    first = world.add(network, *(n for n in NETWORKS if n != network))
    second = world.add(network)
    for _ in range(3):  # limited three times in a row: more than max_attempts
        fake.rate_limit(900)
        world.drain()
        for d in world.store.deliveries():
            if d.target != network:
                assert d.state.value == "published"  # the other networks went on
        limited = [world.get(first), world.get(second)]
        assert [(d.state.value, d.attempts) for d in limited] == [("queued", 0)] * 2, limited
        (hold,) = world.store.holds(clock())
        # The target waits for the reset; both posts keep their due times, so their order is kept.
        assert hold.target == network and all(d.not_before == d.due_at for d in limited)
        assert hold.until is not None and hold.until > clock()
        clock.now = hold.until
    assert publish_calls(fake) == 3  # only the first post was tried, once per reset
    world.drain()
    for did in (first, second):
        d = world.get(did)
        assert (d.state.value, d.attempts) == ("published", 1)
    assert len(fake.applied) == 2 and world.alerts == []
    limited_events = world.store.events(target=network, status="rate_limited")
    assert len([e for e in limited_events if e.delivery_id in (first, second)]) == 3


@pytest.mark.parametrize("network", NETWORKS)
def test_auth_error_pauses_every_queued_post_until_released_with_one_alert(
    network: str, make_world: Callable[..., World], clock: FakeClock
) -> None:
    world = make_world((network,))
    fake = world.fakes[network]
    ids = [world.add(network), world.add(network)]
    fake.revoke_token()
    world.drain()
    clock.advance(days=2)
    world.drain()
    assert [(world.get(i).state.value, world.get(i).attempts) for i in ids] == [("queued", 0)] * 2
    assert publish_calls(fake) == 1 and not fake.applied
    assert world.alerts == [(f"paused:{network}", "paused")]
    assert [e.status for e in world.store.events(target=network, status="paused")] == ["paused"]
    world.store.release_target(network, clock(), "operator")
    world.drain()
    assert [world.get(i).state.value for i in ids] == ["published"] * 2
    assert len(fake.applied) == 2


@pytest.mark.parametrize("applied", [True, False], ids=["found", "absent"])
def test_vk_in_doubt_after_the_guid_window_is_reconciled_not_resent(
    applied: bool, make_world: Callable[..., World], clock: FakeClock
) -> None:
    """VK drops a repeat with the same guid for an hour only; past that, the wall is searched."""
    clock.now -= timedelta(hours=1)  # the first attempt an hour ago (the fake stamps posts with real time)
    world = make_world(("vk",))
    fake = world.fakes["vk"]
    assert isinstance(fake, FakeVk)
    did = world.add("vk")
    fake.vk_error(29)  # an hour-long rate limit: the first send was an hour ago when the retry comes
    world.drain()
    (hold,) = world.store.holds(clock())
    assert hold.until == clock() + timedelta(hours=1)
    clock.now = hold.until
    if applied:
        world.configure("vk", **SHORT_READ)
        fake.time_out()
    else:
        fake.drop_request()
    world.drain()
    world.configure("vk")
    d = world.get(did)
    assert d.state.value == "in_doubt" and len(fake.applied) == int(applied)
    clock.advance(seconds=RECONCILE)
    world.dispatcher.reconcile()
    if applied:
        assert world.statuses(did)[-1] == "published"
    else:
        assert world.get(did).state.value == "queued"
        world.drain()
    world.assert_published_once(did, "vk")


# --- X account states (issue 11, point 12): what holds for the whole account, not for one post --------------


@pytest.fixture
def status(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[[World], str]:
    """What ``publisher status`` prints for a world's queue."""

    def read(world: World) -> str:
        monkeypatch.setenv("PUBLISHER_DATABASE_URL", world.store.url)
        capsys.readouterr()
        main(["status"])  # exit 1: no daemon runs
        return capsys.readouterr().out

    return read


def x_fake(world: World) -> FakeX:
    fake = world.fakes["x"]
    assert isinstance(fake, FakeX)
    return fake


def test_x_without_credits_pauses_the_target_with_one_alert_and_every_post_waits(
    make_world: Callable[..., World], clock: FakeClock, status: Callable[[World], str]
) -> None:
    """402 CreditsDepleted: failing post after post would lose them all with one alert each."""
    world = make_world(("x",))
    fake = x_fake(world)
    ids = [world.add("x") for _ in range(3)]
    fake.deplete_credits()
    world.drain()
    clock.advance(days=1)  # time alone does not bring credits back
    world.drain()
    assert [(world.get(i).state.value, world.get(i).attempts) for i in ids] == [("queued", 0)] * 3
    assert publish_calls(fake) == 1 and not fake.applied
    assert world.alerts == [("paused:x", "paused")]
    (hold,) = world.store.holds(clock())
    assert hold.until is None
    assert "no API credits left" in hold.reason and "developer console" in hold.reason
    assert "target x: paused — X: the developer account has no API credits left" in status(world)
    fake.restore_account()  # credits bought
    world.store.release_target("x", clock(), "operator")  # publisher resume x
    world.drain()
    assert [world.get(i).state.value for i in ids] == ["published"] * 3 and len(fake.applied) == 3


@pytest.mark.parametrize("refusal", ["forbid_account", "forbid_client"])
def test_x_403_about_the_account_pauses_the_target_with_one_alert(
    refusal: str, make_world: Callable[..., World], clock: FakeClock
) -> None:
    world = make_world(("x",))
    fake = world.fakes["x"]
    ids = [world.add("x"), world.add("x")]
    getattr(fake, refusal)()
    world.drain()
    assert [(world.get(i).state.value, world.get(i).attempts) for i in ids] == [("queued", 0)] * 2
    assert publish_calls(fake) == 1 and world.alerts == [("paused:x", "paused")]
    (hold,) = world.store.holds(clock())
    assert hold.until is None and "403" in hold.reason
    assert (
        "not permitted to access this feature" if refusal == "forbid_account" else "Project"
    ) in hold.reason


def test_x_403_about_one_post_fails_only_that_post_with_xs_reason(
    make_world: Callable[..., World], clock: FakeClock
) -> None:
    world = make_world(("x",))
    fake = x_fake(world)
    refused, other = world.add("x"), world.add("x")
    fake.refuse_post()
    world.drain()
    d = world.get(refused)
    assert d.state.value == "failed" and REPLY_NOT_ALLOWED in (d.last_error or "")
    assert world.get(other).state.value == "published" and len(fake.applied) == 1
    assert world.store.holds(clock()) == []
    assert world.alerts == [(f"failed:{refused}", "failed")]


def test_x_monthly_usage_cap_holds_the_target_until_the_reset_without_asking_again(
    make_world: Callable[..., World], clock: FakeClock, status: Callable[[World], str]
) -> None:
    """429 UsageCapExceeded while the 15-minute window has room: the window's reset is not the cap's."""
    world = make_world(("x",))
    fake = x_fake(world)
    t0 = clock()
    ids = [world.add("x"), world.add("x")]
    fake.cap_usage()
    world.drain()
    (hold,) = world.store.holds(clock())
    assert hold.until is not None and hold.until >= t0 + USAGE_CAP_RECHECK
    assert "monthly usage cap" in hold.reason
    for hours in (1, 6, 23):  # many 15-minute windows come and go: X is not asked again
        clock.now = t0 + timedelta(hours=hours)
        world.drain()
    assert publish_calls(fake) == 1
    assert [(world.get(i).state.value, world.get(i).attempts) for i in ids] == [("queued", 0)] * 2
    assert world.alerts == []
    assert "target x: rate limited until" in status(world)
    fake.restore_account()  # the new month
    clock.now = hold.until
    world.drain()
    assert [(world.get(i).state.value, world.get(i).attempts) for i in ids] == [("published", 1)] * 2


def test_a_request_that_could_not_be_built_is_retried_not_in_doubt_and_raises_no_alert(
    make_world: Callable[..., World], clock: FakeClock
) -> None:
    """Issue 11, point 6: a token no HTTP header can carry fails before anything leaves this process.

    That is "not sent" (retried after the backoff), not "it may have been published" with an in-doubt alert
    per post; once the token is fixed, each post goes out once.
    """
    token = "токен-не-латиница"
    world = make_world(("facebook",), overrides={"facebook": {"page_access_token": token}})
    fake = world.fakes["facebook"]
    t0 = clock()
    ids = [world.add("facebook"), world.add("facebook")]
    world.drain()
    for did in ids:
        d = world.get(did)
        assert (d.state.value, d.attempts, d.not_before) == ("retry_wait", 1, t0 + timedelta(seconds=BASE))
        assert "nothing was sent" in (d.last_error or "") and token not in (d.last_error or "")
        assert world.statuses(did) == ["enqueued", "publishing", "retry_wait"]
    assert fake.requests == [] and world.alerts == []
    world.configure("facebook")  # the operator fixes the token
    clock.now = t0 + timedelta(seconds=BASE)
    world.drain()
    assert [world.get(did).state.value for did in ids] == ["published"] * 2
    assert len(fake.applied) == 2 and len(fake.posts) == 2
