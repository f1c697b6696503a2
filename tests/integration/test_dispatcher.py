"""The dispatcher's outcome mapping, with a scripted adapter and a controllable clock.

The real adapters are tested against their network fakes elsewhere; here the point is the state machine:
which error leads to which state, when the next attempt is due, and what is never re-sent.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import pytest

from publisher.adapters.base import Adapter, Answer, Posted, Prepared
from publisher.adapters.pool import AdapterPool
from publisher.dispatch.dispatcher import Dispatcher
from publisher.dispatch.retry import RetryPolicy
from publisher.errors import AuthError, ContentRejected, InDoubtError, RateLimited, TransientError
from publisher.models import (
    AccountInfo,
    DeliveryState,
    MediaItem,
    Post,
    PublishResult,
    ReconcileResult,
    ReconcileStatus,
    RemoteRef,
    Rendered,
    SentPost,
    network_of,
)
from publisher.ops.incidents import Incidents
from publisher.settings import Settings
from publisher.store import Store
from tests.conftest import FakeClock

S = DeliveryState


class Call(NamedTuple):
    """One call the dispatcher made on the adapter, with exactly what it was given."""

    target: str
    key: str
    rendered: Rendered


class Lookup(NamedTuple):
    """One reconcile the dispatcher asked for, with exactly what it was given."""

    target: str
    sent: SentPost


def recognisable(rendered: Rendered) -> tuple[Any, ...]:
    """What an adapter needs to find a post on its network again: text, link, media names, parse mode."""
    return rendered.text, rendered.link, tuple(m.name for m in rendered.media), rendered.parse_mode


def recognisable_sent(sent: SentPost) -> tuple[Any, ...]:
    return sent.text, sent.link, sent.media, sent.parse_mode


class ScriptedAdapter(Adapter):
    """Answers each publish with the next scripted outcome (an exception or 'ok'), and checks its input.

    Every call is recorded (``sent``, ``reconciled``). What the service must never do is noted in
    ``mistakes`` and fails the test at teardown (the dispatcher may swallow an exception, not this list):
    a rendering made for another target; the same key published again after it was published, or after
    it went in doubt on a network without deduplication, unless a reconcile said "absent" in between;
    a reconcile given anything other than what that key's publish was given.
    """

    network = "scripted"
    deduplicates: ClassVar[bool] = False
    script: ClassVar[dict[str, list[Any]]] = {}
    sent: ClassVar[list[Call]] = []
    reconciled: ClassVar[list[Lookup]] = []
    lookup: ClassVar[dict[str, ReconcileResult]] = {}
    mistakes: ClassVar[list[str]] = []
    outcome_of: ClassVar[dict[str, str]] = {}  # key -> published | in_doubt | absent

    def __init__(self, target: str, settings: Any, session: Any = None) -> None:
        self.target = target

    def prepare(self, rendered: Rendered, stop: Any = None) -> Prepared:
        if rendered.target != self.target:
            self.mistakes.append(f"{self.target} was asked to upload a rendering for {rendered.target}")
        return Prepared()

    def publish(self, rendered: Rendered, idempotency_key: str, prepared: Any = None) -> PublishResult:
        key = idempotency_key
        if rendered.target != self.target:
            self.mistakes.append(f"{self.target} was given a rendering for {rendered.target}")
        before = self.outcome_of.get(key)
        if before == "published" or (before == "in_doubt" and not self.deduplicates):
            self.mistakes.append(f"{self.target}: key {key} published again after it was {before}")
        self.sent.append(Call(self.target, key, rendered))
        outcome = self.script.get(self.target, []).pop(0) if self.script.get(self.target) else "ok"
        if isinstance(outcome, BaseException):
            if isinstance(outcome, InDoubtError):
                self.outcome_of[key] = "in_doubt"
            raise outcome
        self.outcome_of[key] = "published"
        n = len(self.sent)
        return PublishResult(
            f"{self.target}-{n}", f"https://example.invalid/{self.target}/{n}", datetime.now().astimezone()
        )

    def check(self) -> AccountInfo:
        return AccountInfo(self.target, "scripted", True)

    def send_post(self, rendered: Rendered, media: list[str], idempotency_key: str) -> Answer:
        raise AssertionError("publish() is scripted whole")

    def parse_answer(self, answer: Answer, media: list[str]) -> Posted | None:
        raise AssertionError("publish() is scripted whole")

    def reconcile(self, sent: SentPost, attempt_started_at: datetime) -> ReconcileResult:
        self.reconciled.append(Lookup(self.target, sent))
        # The attempt looked up is this target's last send (these tests have one in-doubt post per target).
        calls = [c for c in self.sent if c.target == self.target]
        if not calls:
            self.mistakes.append(f"{self.target}: reconcile, but nothing was sent")
            return ReconcileResult(ReconcileStatus.UNKNOWN)
        key, given = calls[-1].key, recognisable(calls[-1].rendered)
        if recognisable_sent(sent) != given:
            self.mistakes.append(
                f"{self.target}: reconcile was given {recognisable_sent(sent)}, but {given} was sent"
            )
        result = self.lookup.get(self.target, ReconcileResult(ReconcileStatus.UNKNOWN))
        if result.status is ReconcileStatus.ABSENT:
            self.outcome_of[key] = "absent"
        elif result.status is ReconcileStatus.FOUND:
            self.outcome_of[key] = "published"
        return result

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _reset_script() -> Iterator[None]:
    ScriptedAdapter.script = {}
    ScriptedAdapter.sent = []
    ScriptedAdapter.reconciled = []
    ScriptedAdapter.lookup = {}
    ScriptedAdapter.mistakes = []
    ScriptedAdapter.outcome_of = {}
    ScriptedAdapter.deduplicates = False
    yield
    assert ScriptedAdapter.mistakes == [], "the dispatcher gave the adapter the wrong thing"


def render(post: Post, target: str) -> Rendered:
    return Rendered(
        target,
        network_of(target),
        f"{post.body} [{target}]",
        len(post.body),
        1000,
        media=post.media,
        link=post.link,
    )


def make(store: Store, clock: FakeClock, **policy: Any) -> Dispatcher:
    settings = Settings(workers=4, dry_run=False)
    pool = AdapterPool(settings, factory=lambda s, t: ScriptedAdapter(t, s))
    rng: Callable[[], float] = lambda: 0.5  # noqa: E731 - no jitter: exact backoff times
    return Dispatcher(
        store,
        settings,
        render,
        adapters=pool,
        clock=clock,
        policy=RetryPolicy(rng=rng, base_seconds=30, **policy),
    )


def add(store: Store, clock: FakeClock, targets: tuple[str, ...] = ("vk",), key: str = "a", **kw: Any) -> int:
    post = Post(
        source_name=f"{key}.md", source_key=key * 8, targets=targets, approved_by="ed", body="Привет", **kw
    )
    return store.add_post(post, clock())[0]


def only(store: Store) -> Any:
    (d,) = store.deliveries()
    return d


def test_success_records_remote_id_url_and_rendered_text(store: Store, clock: FakeClock) -> None:
    add(store, clock, ("vk", "x", "telegram"))
    stats = make(store, clock).run_until_idle()
    assert stats.published == 3
    for d in store.deliveries():
        assert d.state is S.PUBLISHED and d.remote_id and d.remote_url
    texts = {e.target: e.detail["text"] for e in store.events(status="published")}
    assert texts == {"vk": "Привет [vk]", "x": "Привет [x]", "telegram": "Привет [telegram]"}


def test_transient_errors_back_off_exponentially_then_fail_with_history(
    store: Store, clock: FakeClock
) -> None:
    add(store, clock)
    ScriptedAdapter.script["vk"] = [TransientError("HTTP 503") for _ in range(3)]
    dispatcher = make(store, clock, max_attempts=3)
    waits = []
    for _ in range(3):
        dispatcher.run_until_idle()
        d = only(store)
        if d.state is S.RETRY_WAIT:
            waits.append((d.not_before - clock()).total_seconds())
            clock.now = d.not_before
    assert waits == [30.0, 60.0]
    d = only(store)
    assert d.state is S.FAILED and "gave up after 3 attempts" in (d.last_error or "")
    assert [e.status for e in store.events(delivery_id=d.id)].count("publishing") == 3
    assert len(ScriptedAdapter.sent) == 3


def test_rate_limit_holds_the_target_without_burning_attempts_and_others_keep_going(
    store: Store, clock: FakeClock
) -> None:
    add(store, clock, ("x", "vk"), key="a")
    add(store, clock, ("x",), key="b")
    ScriptedAdapter.script["x"] = [RateLimited("429", retry_after=120)]
    dispatcher = make(store, clock)
    dispatcher.run_until_idle()
    by_target: dict[str, list[Any]] = {}
    for d in store.deliveries():
        by_target.setdefault(d.target, []).append(d)
    assert [d.state for d in by_target["vk"]] == [S.PUBLISHED]
    assert all(d.state is S.QUEUED and d.attempts == 0 for d in by_target["x"])
    assert len([c for c in ScriptedAdapter.sent if c.target == "x"]) == 1  # the second x post was not tried
    clock.advance(seconds=119)
    dispatcher.run_until_idle()
    assert all(d.state is S.QUEUED for d in store.deliveries() if d.target == "x")
    clock.advance(seconds=2)
    dispatcher.run_until_idle()
    assert all(d.state is S.PUBLISHED for d in store.deliveries())


def test_auth_error_pauses_the_target_and_loses_nothing(store: Store, clock: FakeClock) -> None:
    add(store, clock, ("facebook",), key="a")
    add(store, clock, ("facebook",), key="b")
    ScriptedAdapter.script["facebook"] = [
        AuthError("token expired (code 190)"),
        AuthError("token expired (code 190)"),
    ]
    dispatcher = make(store, clock)
    alerts: list[Any] = []

    class Recorder:
        def send(self, incident: Any) -> list[str]:
            alerts.append(incident)
            return ["test"]

    dispatcher.incidents = Incidents(store, Recorder(), clock)  # type: ignore[arg-type]
    dispatcher.run_until_idle()
    assert [h.target for h in store.holds(clock())] == ["facebook"]
    assert all(d.state is S.QUEUED and d.attempts == 0 for d in store.deliveries())
    # The operator resumes too early: the token is still bad, the target pauses again — still one alert.
    store.release_target("facebook", clock(), "op")
    dispatcher.run_until_idle()
    dispatcher.incidents.close()  # type: ignore[attr-defined]
    assert [a.key for a in alerts] == ["paused:facebook"]
    store.release_target("facebook", clock(), "op")
    dispatcher.run_until_idle()
    assert all(d.state is S.PUBLISHED for d in store.deliveries())


def test_content_rejected_fails_at_once(store: Store, clock: FakeClock) -> None:
    add(store, clock, ("telegram",))
    ScriptedAdapter.script["telegram"] = [ContentRejected("message is too long", status=400)]
    make(store, clock).run_until_idle()
    d = only(store)
    assert d.state is S.FAILED and "too long" in (d.last_error or "") and len(ScriptedAdapter.sent) == 1
    (failed,) = store.events(status="failed")
    assert failed.detail["http_status"] == 400


def test_in_doubt_is_never_resent_blindly(store: Store, clock: FakeClock) -> None:
    add(store, clock, ("x",))
    ScriptedAdapter.script["x"] = [InDoubtError("read timeout after sending")]
    dispatcher = make(store, clock)
    dispatcher.run_until_idle()
    clock.advance(hours=5)
    dispatcher.run_until_idle()
    dispatcher.reconcile()
    assert only(store).state is S.IN_DOUBT
    assert len(ScriptedAdapter.sent) == 1


def test_reconciliation_found_publishes_absent_requeues(store: Store, clock: FakeClock) -> None:
    add(store, clock, ("x", "facebook"))
    ScriptedAdapter.script["x"] = [InDoubtError("timeout")]
    ScriptedAdapter.script["facebook"] = [InDoubtError("timeout")]
    dispatcher = make(store, clock)
    dispatcher.run_until_idle()
    ScriptedAdapter.lookup["x"] = ReconcileResult(
        ReconcileStatus.FOUND, RemoteRef("777", "https://x.com/i/web/status/777")
    )
    ScriptedAdapter.lookup["facebook"] = ReconcileResult(ReconcileStatus.ABSENT)
    clock.advance(seconds=61)
    assert dispatcher.reconcile() == 2
    states = {d.target: d for d in store.deliveries()}
    assert states["x"].state is S.PUBLISHED and states["x"].remote_id == "777"
    assert states["facebook"].state is S.QUEUED
    dispatcher.run_until_idle()
    assert {d.target: d.state for d in store.deliveries()} == {"x": S.PUBLISHED, "facebook": S.PUBLISHED}
    assert [c.target for c in ScriptedAdapter.sent].count("x") == 1


def test_reconcile_is_given_exactly_what_was_sent(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    """An in-doubt photo post with a link: the lookup needs the link and the media to recognise it."""
    poster = tmp_path / "poster.png"
    poster.write_bytes(b"\x89PNG\r\n\x1a\n")
    media = (MediaItem("poster.png", poster, "0" * 64, "image/png", 8),)
    add(store, clock, ("facebook",), media=media, link="https://library.example/news/1")
    ScriptedAdapter.script["facebook"] = [InDoubtError("timeout")]
    ScriptedAdapter.lookup["facebook"] = ReconcileResult(
        ReconcileStatus.FOUND, RemoteRef("1_2", "https://www.facebook.com/1/posts/2")
    )
    dispatcher = make(store, clock)
    dispatcher.run_until_idle()
    clock.advance(seconds=61)
    assert dispatcher.reconcile() == 1
    assert only(store).state is S.PUBLISHED and len(ScriptedAdapter.sent) == 1
    mistakes, ScriptedAdapter.mistakes = ScriptedAdapter.mistakes, []  # asserted here, not at teardown
    ((_, given),) = ScriptedAdapter.reconciled
    assert recognisable_sent(given) == recognisable(ScriptedAdapter.sent[0].rendered), mistakes


def test_deduplicating_network_in_doubt_is_resent_with_the_same_key(store: Store, clock: FakeClock) -> None:
    add(store, clock, ("vk",))
    ScriptedAdapter.deduplicates = True
    ScriptedAdapter.script["vk"] = [InDoubtError("dropped connection")]
    dispatcher = make(store, clock)
    dispatcher.run_until_idle()
    d = only(store)
    assert d.state is S.RETRY_WAIT
    clock.now = d.not_before
    dispatcher.run_until_idle()
    assert only(store).state is S.PUBLISHED


def test_expired_post_fails_instead_of_publishing_late(store: Store, clock: FakeClock) -> None:
    add(store, clock, ("vk",), expires_at=clock() + timedelta(minutes=10))
    ScriptedAdapter.script["vk"] = [TransientError("HTTP 502")] * 5
    dispatcher = make(store, clock, max_attempts=10, max_seconds=3600)
    for _ in range(6):
        dispatcher.run_until_idle()
        d = only(store)
        if d.state is not S.RETRY_WAIT:
            break
        clock.now = d.not_before
        dispatcher.reap()
    d = only(store)
    assert d.state is S.FAILED and "expire" in (d.last_error or "")


def test_unconfigured_target_pauses_with_the_variable_to_set(store: Store, clock: FakeClock) -> None:
    add(store, clock, ("telegram",))
    settings = Settings(workers=2)
    dispatcher = Dispatcher(store, settings, render, clock=clock)  # real adapter factory, no credentials
    dispatcher.run_until_idle()
    (hold,) = store.holds(clock())
    assert "PUBLISHER_TELEGRAM__BOT_TOKEN" in hold.reason
    assert only(store).state is S.QUEUED


def test_render_failure_is_a_readable_failure_not_a_crash(store: Store, clock: FakeClock) -> None:
    from publisher.errors import InputError

    add(store, clock, ("x",))

    def broken(post: Post, target: str) -> Rendered:
        raise InputError(
            post.source_name, "text", "is 312 characters, X allows 280", "shorten it or add overrides.x.text"
        )

    settings = Settings(workers=2)
    Dispatcher(
        store,
        settings,
        broken,
        adapters=AdapterPool(settings, lambda s, t: ScriptedAdapter(t, s)),
        clock=clock,
    ).run_until_idle()
    d = only(store)
    assert d.state is S.FAILED and "312" in (d.last_error or "") and ScriptedAdapter.sent == []


def test_pacing_spaces_posts_to_one_target_and_others_are_not_slowed(store: Store, clock: FakeClock) -> None:
    """Each paced request gets its own slot one interval after the last; unpaced targets take none.

    Asserted on the slots the store handed out (kept in the publish log), not on wall-clock gaps, which
    jitter on a loaded machine.
    """
    for i in range(4):
        add(store, clock, ("telegram", "vk"), key=f"p{i}")
    settings = Settings(workers=4, telegram={"max_per_minute": 600})  # one every 0.1 s
    sent_at: dict[int, datetime] = {}

    class Timed(ScriptedAdapter):
        def publish(self, rendered: Rendered, idempotency_key: str, prepared: Any = None) -> PublishResult:
            sent_at[int(idempotency_key.rsplit("-", 1)[1])] = datetime.now(UTC)
            return super().publish(rendered, idempotency_key)

    pool = AdapterPool(settings, factory=lambda s, t: Timed(t, s))
    Dispatcher(store, settings, render, adapters=pool, clock=clock).run_until_idle()
    assert all(d.state is S.PUBLISHED for d in store.deliveries())
    published = store.events(status="published")
    slots = {
        e.delivery_id: datetime.fromisoformat(e.detail["slot"]) for e in published if e.target == "telegram"
    }
    ordered = sorted(slots.values())
    assert len(ordered) == 4
    assert all(b - a >= timedelta(seconds=0.1) for a, b in itertools.pairwise(ordered)), ordered
    assert all(sent_at[d] >= slot for d, slot in slots.items())  # never before its slot
    assert not [e for e in published if e.target == "vk" and "slot" in e.detail]  # VK is not paced


def test_a_lane_commits_each_result_before_its_next_network_call(store: Store, clock: FakeClock) -> None:
    """A lane queues a published result to commit with its next write (one fsync per delivery on SQLite),
    but the durability rule holds: when the next request leaves, every earlier delivery of that lane reads
    ``published`` from the database, and at the end all of them do.

    Read through a second store on the same database: what another process (or a restart) would see.
    """
    for i in range(5):
        add(store, clock, ("vk",), key=f"lane{i}")
    seen: list[list[S]] = []
    other = Store(store.url, migrate=False)

    class Checking(ScriptedAdapter):
        def publish(self, rendered: Rendered, idempotency_key: str, prepared: Any = None) -> PublishResult:
            seen.append([d.state for d in sorted(other.deliveries(), key=lambda d: d.id)])
            return super().publish(rendered, idempotency_key)

    settings = Settings(workers=4, dry_run=False)
    pool = AdapterPool(settings, factory=lambda s, t: Checking(t, s))
    try:
        stats = Dispatcher(store, settings, render, adapters=pool, clock=clock).run_until_idle()
        final = [d.state for d in other.deliveries()]
    finally:
        other.close()
    assert stats.published == 5
    assert len(seen) == 5
    for n, states in enumerate(seen):  # the n-th request: n results before it, all on disk
        assert states[:n] == [S.PUBLISHED] * n, (n, states)
        assert S.PUBLISHED not in states[n:], (n, states)
    assert final == [S.PUBLISHED] * 5
    assert len(store.events(status="published")) == 5


def test_concurrent_drains_never_give_one_target_two_lanes(store: Store, clock: FakeClock) -> None:
    """The daemon's timed and periodic drains may fire together; a target still publishes one post at a time."""
    import threading
    import time

    for i in range(6):
        add(store, clock, ("vk",), key=f"c{i}")
    active = 0
    most = 0
    guard = threading.Lock()

    class Slow(ScriptedAdapter):
        def publish(self, rendered: Rendered, idempotency_key: str, prepared: Any = None) -> PublishResult:
            nonlocal active, most
            with guard:
                active += 1
                most = max(most, active)
            time.sleep(0.05)
            with guard:
                active -= 1
            return super().publish(rendered, idempotency_key)

    settings = Settings(workers=4, drain_batch=2)
    dispatcher = Dispatcher(
        store, settings, render, adapters=AdapterPool(settings, lambda s, t: Slow(t, s)), clock=clock
    )
    drains = [threading.Thread(target=dispatcher.drain) for _ in range(4)]
    for t in drains:
        t.start()
    for t in drains:
        t.join()
    dispatcher.run_until_idle()
    assert most == 1
    assert all(d.state is S.PUBLISHED for d in store.deliveries())


def test_run_until_idle_does_not_stop_while_a_target_skipped_as_busy_still_has_due_work(
    store: Store, clock: FakeClock
) -> None:
    """A drain leaves out a target whose lane runs; if that lane ends right then, nothing runs and nothing
    was claimed, yet the target's next post is due: ``run --once`` must drain again, not stop."""
    for key, target in (("a", "vk"), ("b", "x"), ("c", "vk")):
        add(store, clock, (target,), key=key)
    settings = Settings(
        workers=4, dry_run=False, drain_batch=2
    )  # a(vk) and b(x) first; c(vk) needs a drain more
    vk_may_go = threading.Event()

    def slow_vk(post: Post, target: str) -> Rendered:
        if target == "vk":
            vk_may_go.wait(30)
        return render(post, target)

    daemon = Dispatcher(
        store,
        settings,
        slow_vk,
        adapters=AdapterPool(settings, lambda s, t: ScriptedAdapter(t, s)),
        clock=clock,
    )
    claim_due = store.claim_due

    def claim_while_the_lane_ends(*args: Any, **kwargs: Any) -> Any:
        found = claim_due(*args, **kwargs)
        if "vk" in kwargs.get("exclude_targets", ()):
            vk_may_go.set()
            daemon.wait_idle()  # the vk lane, just left out as busy, ends before this drain returns
        return found

    store.claim_due = claim_while_the_lane_ends  # type: ignore[method-assign]
    stats = daemon.run_until_idle()
    daemon.stop(5)
    assert vk_may_go.is_set()  # the race above did happen
    assert stats.published == 3
    assert [d.state for d in store.deliveries()] == [DeliveryState.PUBLISHED] * 3
