"""Operator commands against a real SQLite queue: what an operator types, what they read, the exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.cli import main
from publisher.models import DeliveryState, Post, PublishResult
from publisher.store import Store
from tests.helpers import service_env

S = DeliveryState


@pytest.fixture
def queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    service_env(monkeypatch, tmp_path, {})
    store = Store(f"sqlite:///{tmp_path / 'var' / 'publisher.db'}")
    now = datetime.now(UTC)
    store.add_post(
        Post(
            source_name="kino.md",
            source_key="k" * 64,
            targets=("vk", "x", "telegram"),
            approved_by="ed",
            body="Кино",
        ),
        now,
    )
    vk, x, tg = store.claim_due(now, worker="test", lease_seconds=60)
    store.record_published(
        vk.delivery.id,
        vk.delivery.attempt_id or "",
        PublishResult("-1_2", "https://vk.com/wall-1_2", now),
        now,
        {"text": "Кино"},
    )
    store.record_failed(x.delivery.id, x.delivery.attempt_id or "", now, "X refused: duplicate content")
    store.record_in_doubt(
        tg.delivery.id, tg.delivery.attempt_id or "", now, "no answer after sending", reconcile_at=None
    )
    yield store
    store.close()


def test_log_json_has_the_fields_scripts_rely_on(queue: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"time", "post", "target", "status", "remote_id", "url", "error"} <= set(rows[0])
    published = [r for r in rows if r["status"] == "published"]
    assert published[0]["url"] == "https://vk.com/wall-1_2" and published[0]["remote_id"] == "-1_2"
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed[0]["target"] == "x" and "duplicate" in failed[0]["error"]


def test_log_filters(queue: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["log", "--target", "x", "--status", "failed"]) == 0
    out = capsys.readouterr().out
    assert "duplicate" in out and "vk.com" not in out
    assert main(["log", "--since", "1h", "--json"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 9  # 3 enqueued, 3 publishing, 3 outcomes
    assert main(["log", "--since", "next tuesday"]) == 2
    assert "--since" in capsys.readouterr().err


def test_queue_lists_unfinished_and_show_tells_the_history(
    queue: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["queue"]) == 0
    out = capsys.readouterr().out
    assert "in_doubt" in out and "telegram" in out and "published" not in out
    assert main(["show", "2"]) == 0
    out = capsys.readouterr().out
    assert "failed" in out and "duplicate content" in out and "publishing" in out
    assert main(["show", "99"]) == 1


def test_retry_cancel_resolve(queue: Store, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)
    assert queue.open_incident("failed:2", now) and queue.open_incident("in_doubt:3", now)
    assert main(["retry", "2"]) == 0
    assert queue.get_delivery(2).state is S.QUEUED  # type: ignore[union-attr]
    # The incident is closed: if the retried delivery fails again, the team is alerted again.
    assert queue.open_incident("failed:2", now) is True
    # An in-doubt delivery is not re-sent without confirmation (no terminal here to ask).
    assert main(["retry", "3"]) == 1
    assert "may already be published" in capsys.readouterr().err
    assert queue.get_delivery(3).state is S.IN_DOUBT  # type: ignore[union-attr]
    assert main(["resolve", "3", "--published-as", "https://t.me/library_news/42"]) == 0
    d = queue.get_delivery(3)
    assert (
        d is not None
        and d.state is S.PUBLISHED
        and d.remote_id == "42"
        and d.remote_url == "https://t.me/library_news/42"
    )
    assert queue.open_incident("in_doubt:3", now) is True  # settled: its incident was closed
    assert main(["cancel", "2"]) == 0
    assert queue.get_delivery(2).state is S.CANCELLED  # type: ignore[union-attr]
    assert main(["cancel", "1"]) == 1  # already published
    assert "is published" in capsys.readouterr().err
    assert main(["resolve", "1", "--not-published"]) == 1


def test_pause_and_resume(queue: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pause", "vk", "--reason", "кампания на проверке"]) == 0
    assert main(["status"]) == 1  # no daemon is running
    out = capsys.readouterr().out
    assert "target vk: paused" in out and "кампания на проверке" in out and "never started" in out
    assert main(["resume", "vk"]) == 0
    assert "vk resumed" in capsys.readouterr().out
    assert main(["pause", "myspace"]) == 2
    assert "known targets" in capsys.readouterr().err


def test_status_json(queue: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["daemon_alive"] is False
    assert data["counts"]["in_doubt"] == 1 and data["counts"]["failed"] == 1
    assert data["last_failures"][0]["target"] == "x"


def test_bad_settings_exit_2_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PUBLISHER_WORKERS", "many")
    assert main(["queue"]) == 2
    assert "PUBLISHER_WORKERS" in capsys.readouterr().err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in (
        "run",
        "enqueue",
        "preview",
        "queue",
        "log",
        "show",
        "retry",
        "cancel",
        "resolve",
        "pause",
        "resume",
        "check",
        "status",
    ):
        assert command in out


def test_check_names_the_variables_a_target_lacks(
    queue: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An operator who set half of a network's settings learns which variables are still missing."""
    monkeypatch.setenv("PUBLISHER_VK__GROUP_ID", "123456")
    assert main(["check"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "not configured: set PUBLISHER_VK__ACCESS_TOKEN" in lines["vk"]
    assert "PUBLISHER_VK__GROUP_ID" not in lines["vk"]
    assert "PUBLISHER_TELEGRAM__BOT_TOKEN, PUBLISHER_TELEGRAM__CHAT_ID" in lines["telegram"]


def test_help_names_all_five_networks(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for network in ("VK", "X", "Facebook", "Telegram", "Instagram"):
        assert network in out


def test_status_on_a_database_no_daemon_used_names_that_database(
    queue: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """An operator who ran status without the service's settings sees which database was read, and why."""
    assert main(["status"]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("daemon: never started on this database (sqlite:///")
    assert "var/publisher.db" in first and "PUBLISHER_SETTINGS_FILE" in first


def test_check_in_dry_run_says_it_once(
    queue: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PUBLISHER_DRY_RUN", "true")
    assert main(["check"]) == 0
    for line in capsys.readouterr().out.splitlines():
        assert line.split()[1:] == ["ok", "dry", "run", "—", "no", "network", "call"], line


def test_metrics_say_dry_run_for_a_dry_run_delivery(queue: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """A dry-run 'publication' never gets figures: the table and --json say so, as the CSV and report do."""
    now = datetime.now(UTC)
    queue.add_post(
        Post(source_name="dry.md", source_key="d" * 64, targets=("vk",), approved_by="ed", body="Сухо"), now
    )
    (claim,) = queue.claim_due(now, worker="test", lease_seconds=60)
    queue.record_published(
        claim.delivery.id, claim.delivery.attempt_id or "", PublishResult("dry-run:pub-1", None, now), now, {}
    )
    assert main(["metrics", "--json"]) == 0
    reasons = {
        row["remote_id"]: row["reason"] for row in map(json.loads, capsys.readouterr().out.splitlines())
    }
    assert reasons == {"-1_2": "not collected yet", "dry-run:pub-1": "dry run"}
    assert main(["metrics"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[-1].strip() for line in table[2:]] == ["not collected yet", "dry run"]
