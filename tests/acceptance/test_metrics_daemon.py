"""Metrics through the daemon and the four network fakes, on a fake clock.

The daemon object runs in this process (its jobs are called directly) so the clock can jump days ahead;
every network call goes through the real adapters to loopback fakes that speak each API's wire format.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.cli import main
from publisher.dispatch.daemon import Daemon
from publisher.settings import Settings, load_settings
from tests.conftest import FakeClock
from tests.daemon_helpers import ROOT
from tests.fakes.base import Fault
from tests.fakes.facebook import FakeFacebook
from tests.fakes.telegram import FakeChat, FakeTelegram
from tests.fakes.vk import FakeVk
from tests.fakes.x import FakeX

VK_TOKEN = "vk1.a.metrics-token-0123456789abcdef"
X_CREDS = ("metrics-consumer-key", "metrics-consumer-secret", "metrics-access-token", "metrics-access-secret")
TEAM_CHAT = -1009876543210
NETWORKS = ("vk", "x", "facebook", "telegram")


@dataclass
class World:
    daemon: Daemon
    clock: FakeClock
    vk: FakeVk
    x: FakeX
    fb: FakeFacebook
    tg: FakeTelegram
    inbox: Path

    def publish(self, name: str, text: str) -> None:
        """Drop a post for all four networks and publish it now (fake clock time)."""
        post = f"---\nnetworks: [vk, x, facebook, telegram]\napproved_by: редактор\nrubric: древняядичь\n---\n{text}\n"
        (self.inbox / f"{name}.md").write_text(post, encoding="utf-8")
        self.daemon.ingest()
        self.daemon.dispatcher.run_until_idle()

    def metrics_json(self, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
        capsys.readouterr()
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            assert main(["metrics", "--json"]) == 0
        finally:  # the CLI logs to this test's captured stdout: put the test's logging back
            root.handlers[:], root.level = handlers, level
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        return {f"{r['target']}:{r['remote_id']}": r for r in rows}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    vk = FakeVk(VK_TOKEN)
    x = FakeX(
        consumer_key=X_CREDS[0],
        consumer_secret=X_CREDS[1],
        access_token=X_CREDS[2],
        access_token_secret=X_CREDS[3],
    )
    fb, tg = FakeFacebook(), FakeTelegram()
    tg.add_chat(FakeChat(id=TEAM_CHAT, type="supergroup", title="SMM-группа", bot_status="member"))
    for fake in (vk, x, fb, tg):
        fake.start()
    for name in [k for k in __import__("os").environ if k.startswith("PUBLISHER_")]:
        monkeypatch.delenv(name)
    env = {
        "PUBLISHER_DATA_DIR": str(tmp_path / "var"),
        "PUBLISHER_DIRECTORY_FILE": str(ROOT / "directory.example.yaml"),
        "PUBLISHER_INBOX_SETTLE_SECONDS": "0",
        "PUBLISHER_TELEGRAM__MAX_PER_MINUTE": "60000",
        "PUBLISHER_VK__API_URL": vk.url,
        "PUBLISHER_VK__ACCESS_TOKEN": VK_TOKEN,
        "PUBLISHER_VK__GROUP_ID": "123",
        "PUBLISHER_X__API_URL": x.url,
        "PUBLISHER_X__API_KEY": X_CREDS[0],
        "PUBLISHER_X__API_SECRET": X_CREDS[1],
        "PUBLISHER_X__ACCESS_TOKEN": X_CREDS[2],
        "PUBLISHER_X__ACCESS_TOKEN_SECRET": X_CREDS[3],
        "PUBLISHER_X__USERNAME": "bntu_library",
        "PUBLISHER_FACEBOOK__API_URL": fb.url,
        "PUBLISHER_FACEBOOK__PAGE_ID": fb.page_id,
        "PUBLISHER_FACEBOOK__PAGE_ACCESS_TOKEN": fb.token,
        "PUBLISHER_TELEGRAM__API_URL": tg.url,
        "PUBLISHER_TELEGRAM__BOT_TOKEN": tg.token,
        "PUBLISHER_TELEGRAM__CHAT_ID": "@library_news",
        "PUBLISHER_REPORT__TELEGRAM_CHAT_ID": str(TEAM_CHAT),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings: Settings = load_settings()
    (tmp_path / "var" / "inbox").mkdir(parents=True)
    clock = FakeClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    daemon = Daemon(settings, clock=clock)
    try:
        yield World(daemon, clock, vk, x, fb, tg, tmp_path / "var" / "inbox")
    finally:
        daemon.dispatcher.stop(timeout=30)
        daemon.incidents.close()
        daemon.store.close()
        for fake in (vk, x, fb, tg):
            fake.stop()


def metric_calls(w: World) -> dict[str, int]:
    return {
        "vk": sum(1 for r in w.vk.requests if r.path.endswith("/wall.getById")),
        "x": sum(1 for r in w.x.requests if r.method == "GET" and r.path == "/2/tweets"),
        "facebook": sum(1 for r in w.fb.requests if r.method == "GET" and "ids" in r.query),
    }


def test_snapshots_follow_the_schedule_and_show_what_the_networks_served(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    w = world
    w.publish("a", "Первый пост о выставке")
    w.publish("b", "Второй пост о киноклубе")
    published = w.daemon.store.metrics_rows()
    assert len(published) == 8 and {r.network for r in published} == set(NETWORKS)

    # Before the first step (1 h) nothing is asked.
    w.clock.advance(minutes=30)
    w.daemon.collect_metrics()
    assert metric_calls(w) == {"vk": 0, "x": 0, "facebook": 0}

    for step, (advance, expected_snapshots) in enumerate(((timedelta(hours=1), 1), (timedelta(days=1), 2))):
        w.clock.now = published[0].published_at + advance
        w.daemon.collect_metrics()
        # One batched call per network and round (Facebook: engagement, then insights, refused).
        assert metric_calls(w) == {"vk": step + 1, "x": step + 1, "facebook": 2 * (step + 1)}
        shown = w.metrics_json(capsys)
        assert len(shown) == 8
        for key, row in shown.items():
            target, remote_id = key.split(":", 1)
            assert row["snapshots"] == expected_snapshots, row
            if target == "telegram":
                assert row["available"] is False and row["reason"] == "not available from the Bot API"
                assert row["views"] is None and row["likes"] is None
                continue
            fake = {"vk": w.vk, "x": w.x, "facebook": w.fb}[target]
            served = fake.figures.served[remote_id]
            assert row["likes"] == served["likes"] and row["comments"] == served["comments"]
            assert row["reposts"] == served["reposts"]
            if target == "facebook":
                assert row["views"] is None and "insights" in str(row["reason"])
            else:
                assert row["views"] == served["views"] and row["available"] is True

    # Figures changed between the two snapshots, and the newest is the one shown.
    vk_row = next(r for r in w.daemon.store.metrics_rows() if r.network == "vk")
    first, second = w.daemon.store.snapshot_history(vk_row.delivery_id)
    assert first.views is not None and second.views is not None and second.views > first.views

    # Not due again until the 7-day step.
    w.clock.advance(hours=2)
    w.daemon.collect_metrics()
    assert metric_calls(w)["vk"] == 2


def test_a_metrics_429_or_5xx_holds_only_metrics_and_publishing_goes_on(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    w = world
    w.publish("a", "Пост до ограничения")
    w.vk.http_429(retry_after=600, method="wall.getById")
    # The next call on /2/tweets is the metrics lookup (nothing is published until after it).
    w.x.inject(Fault("status", path=r"^/2/tweets$", status=503, body={"title": "Service Unavailable"}))
    w.clock.advance(hours=1)
    w.daemon.collect_metrics()
    rows = {r.network: r for r in w.daemon.store.metrics_rows()}
    assert rows["vk"].snapshot is None and rows["x"].snapshot is None  # held, asked again later
    assert rows["facebook"].snapshot is not None and rows["telegram"].snapshot is not None
    # Publishing is untouched: no target is held, and a new post reaches VK and X at once.
    assert w.daemon.store.holds(w.clock()) == []
    before = (len(w.vk.posts), len(w.x.posts))
    w.publish("b", "Пост во время ограничения метрик")
    assert (len(w.vk.posts), len(w.x.posts)) == (before[0] + 1, before[1] + 1)
    # Within the hold nothing is asked again; after it the snapshots are taken.
    w.clock.advance(minutes=4)
    w.daemon.collect_metrics()
    assert sum(1 for r in w.vk.requests if r.path.endswith("/wall.getById")) == 1
    w.clock.advance(minutes=7)
    w.daemon.collect_metrics()
    rows = {r.network: r for r in w.daemon.store.metrics_rows() if r.facts.title == "Пост до ограничения"}
    assert rows["vk"].snapshot is not None and rows["vk"].snapshot.views is not None
    assert rows["x"].snapshot is not None and rows["x"].snapshot.views is not None


def test_a_metrics_auth_error_pauses_the_target(world: World) -> None:
    w = world
    w.publish("a", "Пост перед отзывом токена")
    w.vk.vk_error(5, method="wall.getById")
    w.clock.advance(hours=1)
    w.daemon.collect_metrics()
    holds = w.daemon.store.holds(w.clock())
    assert [h.target for h in holds] == ["vk"] and holds[0].is_pause and "metrics" in holds[0].reason
    assert [e.target for e in w.daemon.store.events(status="paused")] == ["vk"]
    # The other networks' snapshots were taken all the same.
    assert {r.network for r in w.daemon.store.metrics_rows() if r.snapshot} == {"x", "facebook", "telegram"}


def test_the_monthly_report_goes_to_the_team_chat_once(world: World) -> None:
    w = world
    w.publish("a", "Ноябрьский пост")
    w.clock.advance(hours=1)
    w.daemon.collect_metrics()
    w.clock.now = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # 09:00 in Minsk
    assert w.daemon.send_monthly_report() is True
    assert w.daemon.send_monthly_report() is False  # already sent for November
    team = next(c for c in w.tg.chats if c.id == TEAM_CHAT)
    (message,) = team.messages
    assert message["document"]["file_name"] == "report-2026-11.html"
    assert message["caption"] == "Отчёт к круглому столу: ноябрь 2026"
    html = message["_data"].decode("utf-8")
    assert "Ноябрьский пост" in html and "<svg" in html
    assert "not available from the Bot API" in html and "vk" in html


def test_publishing_goes_first_on_a_target(world: World) -> None:
    w = world
    w.publish("a", "Пост, чьи цифры подождут")
    w.clock.advance(hours=1)
    # A new post is waiting to go out on every network: this round asks no network for figures.
    (w.inbox / "b.md").write_text(
        "---\nnetworks: [vk, x, facebook, telegram]\napproved_by: редактор\n---\nНовый пост\n",
        encoding="utf-8",
    )
    w.daemon.ingest()
    stats = w.daemon.metrics.run()
    assert metric_calls(w) == {"vk": 0, "x": 0, "facebook": 0} and stats.taken == 0
    assert set(stats.skipped.values()) == {"publishing first"}
    # Once it is out, the figures are taken.
    w.daemon.dispatcher.run_until_idle()
    stats = w.daemon.metrics.run()
    assert stats.taken == 4 and metric_calls(w) == {"vk": 1, "x": 1, "facebook": 2}
