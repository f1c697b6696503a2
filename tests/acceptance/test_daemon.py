"""The real daemon as a subprocess: inbox to published, timing, SIGTERM, SIGHUP, notify, status, alerts."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from publisher.models import DeliveryState, Post, SentPost
from publisher.store import Store
from tests.daemon_helpers import DaemonProcess, NotifySocket, base_env, run_cli
from tests.fakes.facebook import FakeFacebook
from tests.fakes.telegram import FakeChat, FakeTelegram
from tests.fakes.vk import FakeVk
from tests.helpers import wait_until

S = DeliveryState
VK_TOKEN = "vk1.a.daemon-test-token-0123456789"


def post_file(
    folder: Path, name: str, body: str, networks: str = "[vk, x, facebook, telegram]", **front: str
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["---", f"networks: {networks}", "approved_by: редактор дня"]
    lines += [f"{k}: {v}" for k, v in front.items()]
    lines += ["---", body, ""]
    path = folder / name
    tmp = folder / f".{name}.part"
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.rename(path)
    return path


def open_store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'var' / 'publisher.db'}")


def test_dry_run_daemon_from_drop_to_log_and_clean_stop(tmp_path: Path) -> None:
    """A dropped file becomes one post with a delivery per target; a bad file is rejected; SIGTERM exits 0."""
    notify = NotifySocket(tmp_path / "notify.sock")
    env = base_env(
        tmp_path, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="2000000", PUBLISHER_HOUSEKEEPING_INTERVAL="1"
    )
    inbox = tmp_path / "var" / "inbox"
    daemon = DaemonProcess(env, "run", "--dry-run")
    try:
        assert wait_until(lambda: notify.seen("READY=1")), daemon.output
        post_file(inbox, "kino.md", "Показ в @kinoklub для @fitr", rubric="чтотознакомое")
        post_file(inbox, "bad.md", "Нет одобрения", networks="[vk, myspace]")
        store = open_store(tmp_path)
        assert wait_until(lambda: store.counts_by_state()["published"] == 4), daemon.output
        assert wait_until(lambda: (inbox / "rejected" / "bad.md.error.txt").exists()), daemon.output
        error = (inbox / "rejected" / "bad.md.error.txt").read_text()
        assert "bad.md" in error and "myspace" in error
        assert (inbox / "processed" / "kino.md").exists() and not (inbox / "kino.md").exists()
        posts = {d.post_id for d in store.deliveries()}
        assert len(posts) == 1 and sorted(d.target for d in store.deliveries()) == [
            "facebook",
            "telegram",
            "vk",
            "x",
        ]
        published = store.events(status="published")
        assert all(e.detail.get("dry_run") for e in published)
        vk_text = next(e.detail["text"] for e in published if e.target == "vk")
        assert "[club12345|ФИТР БНТУ]" in vk_text and "#чтотознакомое" in vk_text
        # Still running after the rejection, and the watchdog is fed from the loop.
        assert daemon.alive()
        assert wait_until(lambda: len(notify.seen("WATCHDOG=1")) >= 2), notify.messages
        assert wait_until(
            lambda: any("STATUS=" in m and "published 4" in m for m in notify.messages), timeout=20
        )
        # The same file dropped again is the same post, not a second one.
        post_file(inbox, "kino.md", "Показ в @kinoklub для @fitr", rubric="чтотознакомое")
        assert wait_until(
            lambda: (inbox / "processed" / "kino.2").exists() or not (inbox / "kino.md").exists()
        )
        time.sleep(0.5)
        assert len({d.post_id for d in store.deliveries()}) == 1
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(30) == 0, daemon.output
        assert notify.seen("STOPPING=1")
        status = run_cli(env, "status")
        assert status.returncode == 1 and "daemon: stopped" in status.stdout, status.stdout + status.stderr
        log = run_cli(env, "log", "--json")
        assert log.returncode == 0 and log.stdout.count('"status": "published"') == 4
    finally:
        daemon.stop()
        notify.close()


def test_half_written_file_is_not_taken_early(tmp_path: Path) -> None:
    env = base_env(tmp_path, PUBLISHER_INBOX_SETTLE_SECONDS="1.0")
    inbox = tmp_path / "var" / "inbox"
    inbox.mkdir(parents=True)
    daemon = DaemonProcess(env, "run", "--dry-run")
    try:
        store = open_store(tmp_path)
        target = inbox / "slow.md"
        header = "---\nnetworks: [telegram]\napproved_by: редактор\n---\n"
        with target.open("w", encoding="utf-8") as fh:
            fh.write(header)
            for i in range(12):  # an editor's slow copy over a network share
                fh.write(f"строка {i} ")
                fh.flush()
                time.sleep(0.2)
                assert not store.deliveries(), "ingested while still being written"
        assert wait_until(lambda: store.counts_by_state()["published"] == 1), daemon.output
        text = store.events(status="published")[0].detail["text"]
        assert "строка 11" in text
    finally:
        daemon.stop()


def test_not_sent_before_publish_at_and_promptly_after(tmp_path: Path) -> None:
    with FakeTelegram() as fake:
        env = base_env(tmp_path, **fake.service_env())
        daemon = DaemonProcess(env, "run")
        try:
            due = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
            post_file(
                tmp_path / "var" / "inbox",
                "timed.md",
                "Ровно в срок",
                networks="[telegram]",
                publish_at=due.isoformat(),
            )
            # Not before the due time, and by itself: the daemon wakes for it (no new file, no restart).
            # How late it is on a quiet machine is the benchmark's business (make bench: punctuality).
            assert wait_until(lambda: len(fake.applied) == 1, timeout=30), daemon.output
            store = open_store(tmp_path)
            # The fake has answered; the daemon commits the result a moment later.
            assert wait_until(lambda: len(store.events(status="published")) == 1), daemon.output
            (published,) = store.events(status="published")
            (claimed,) = store.events(status="publishing")
            assert claimed.time >= due, f"claimed {claimed.time} before due {due}"
            assert published.time >= claimed.time
            assert published.url and published.url.startswith("https://t.me/library_news/")
        finally:
            daemon.stop()


def test_once_catches_up_after_downtime(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    folder = tmp_path / "drafts"
    zone = ZoneInfo("Europe/Minsk")
    past = (datetime.now(zone) - timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M")  # within the tolerance
    future = (datetime.now(zone) + timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    files = [
        post_file(folder, f"p{i}.md", f"Пост {i}", networks="[vk, telegram]", publish_at=past)
        for i in range(3)
    ]
    files.append(post_file(folder, "later.md", "Позже", networks="[vk]", publish_at=future))
    enq = run_cli(env, "enqueue", *map(str, files))
    assert enq.returncode == 0, enq.stderr
    assert "post 1" in enq.stdout and "due" in enq.stdout
    once = run_cli(env, "run", "--once", "--dry-run")
    assert once.returncode == 0, once.stdout + once.stderr
    counts = open_store(tmp_path).counts_by_state()
    assert counts["published"] == 6 and counts["queued"] == 1
    queue = run_cli(env, "queue")
    assert "vk" in queue.stdout and future[:10] in queue.stdout


def test_enqueue_rejects_bad_input_with_exit_2(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    bad = post_file(tmp_path / "drafts", "bad.md", "текст", networks="[vk]")
    bad.write_text(
        bad.read_text(encoding="utf-8").replace("approved_by: редактор дня\n", ""), encoding="utf-8"
    )
    result = run_cli(env, "enqueue", str(bad))
    assert result.returncode == 2
    assert "bad.md" in result.stderr and "approved_by" in result.stderr
    assert bad.exists()


def test_sigterm_mid_drain_loses_nothing_and_leaves_nothing_stuck(tmp_path: Path) -> None:
    with FakeTelegram() as fake:
        fake.slow(1.5)
        env = base_env(tmp_path, **fake.service_env())
        folder = tmp_path / "drafts"
        files = [post_file(folder, f"p{i}.md", f"Пост номер {i}", networks="[telegram]") for i in range(4)]
        assert run_cli(env, "enqueue", *map(str, files)).returncode == 0
        notify = NotifySocket(tmp_path / "notify.sock")
        daemon = DaemonProcess({**env, "NOTIFY_SOCKET": str(notify.path)}, "run")
        try:
            assert wait_until(lambda: len(fake.requests) >= 1), daemon.output
            daemon.signal(signal.SIGTERM)  # the first delivery is in flight (1.5 s latency)
            assert daemon.wait(30) == 0, daemon.output
            assert notify.seen("READY=1") and notify.seen("STOPPING=1")
        finally:
            daemon.stop()
            notify.close()
        store = open_store(tmp_path)
        states = [d.state for d in store.deliveries()]
        assert S.PUBLISHING not in states, states
        assert states.count(S.PUBLISHED) == 1 and states.count(S.QUEUED) == 3, states
        # Restarted, it finishes the rest, and the fake got every post exactly once.
        assert run_cli(env, "run", "--once").returncode == 0
        assert all(d.state is S.PUBLISHED for d in store.deliveries())
        texts = [r.json["text"] if r.json else r.form.get("text") for r in fake.applied]
        assert sorted(texts) == sorted(set(texts)) and len(texts) == 4


def test_sighup_reloads_the_directory_and_keeps_the_old_one_when_broken(tmp_path: Path) -> None:
    directory = tmp_path / "directory.yaml"
    original = (Path(__file__).resolve().parents[2] / "directory.example.yaml").read_text(encoding="utf-8")
    directory.write_text(original, encoding="utf-8")
    notify = NotifySocket(tmp_path / "notify.sock")
    env = base_env(tmp_path, PUBLISHER_DIRECTORY_FILE=str(directory), NOTIFY_SOCKET=str(notify.path))
    daemon = DaemonProcess(env, "run", "--dry-run")
    try:
        assert wait_until(lambda: notify.seen("READY=1")), daemon.output
        directory.write_text(
            original.replace(
                "entities:\n", "entities:\n  newfac:\n    name: Новый факультет\n    vk: club777\n", 1
            ),
            encoding="utf-8",
        )
        daemon.signal(signal.SIGHUP)
        assert wait_until(lambda: "entities added: newfac" in daemon.output), daemon.output
        assert wait_until(lambda: len(notify.seen("READY=1")) >= 2)
        post_file(tmp_path / "var" / "inbox", "new.md", "Привет @newfac", networks="[vk]")
        store = open_store(tmp_path)
        assert wait_until(lambda: store.counts_by_state()["published"] == 1), daemon.output
        assert "[club777|Новый факультет]" in store.events(status="published")[0].detail["text"]
        directory.write_text("entities: [unclosed", encoding="utf-8")
        daemon.signal(signal.SIGHUP)
        assert wait_until(lambda: "directory not reloaded" in daemon.output), daemon.output
        assert daemon.alive()
    finally:
        daemon.stop()
        notify.close()


def test_auth_failure_pauses_target_with_one_alert_per_incident(tmp_path: Path) -> None:
    with FakeVk(VK_TOKEN) as vk, FakeTelegram() as tg:
        vk.revoke_token(times=10)
        team = -1009999
        tg.add_chat(FakeChat(id=team, type="supergroup", title="SMM team"))
        env = base_env(
            tmp_path,
            **vk.service_env(),
            PUBLISHER_TELEGRAM__API_URL=tg.url,
            PUBLISHER_ALERTS__TELEGRAM_BOT_TOKEN=tg.token,
            PUBLISHER_ALERTS__TELEGRAM_CHAT_ID=str(team),
        )
        folder = tmp_path / "drafts"
        files = [post_file(folder, f"p{i}.md", f"Пост {i}", networks="[vk]") for i in range(3)]
        assert run_cli(env, "enqueue", *map(str, files)).returncode == 0
        daemon = DaemonProcess(env, "run")
        try:
            assert wait_until(lambda: len(tg.sent_to(team)) >= 1), daemon.output
            time.sleep(1.5)
            status = run_cli(env, "status")
            assert "target vk: paused" in status.stdout, status.stdout
        finally:
            daemon.stop()
        assert len(tg.sent_to(team)) == 1, tg.texts_sent_to(team)
        store = open_store(tmp_path)
        assert all(d.state is S.QUEUED for d in store.deliveries())
        assert VK_TOKEN not in daemon.output
        # Restarted while still paused: the incident is still open, so no second alert.
        daemon = DaemonProcess(env, "run")
        time.sleep(2)
        daemon.stop()
        assert len(tg.sent_to(team)) == 1


@pytest.mark.parametrize("command", [["queue"], ["log"], ["status", "--json"]])
def test_operator_commands_work_on_an_empty_database(tmp_path: Path, command: list[str]) -> None:
    result = run_cli(base_env(tmp_path), *command)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr


def test_a_starting_daemon_settles_in_doubt_deliveries_before_its_first_housekeeping_round(
    tmp_path: Path,
) -> None:
    """Issue 11, point 13: daemons killed again and again may never live to a housekeeping round (the
    multi-daemon crash test saw in-doubt deliveries wait four minutes). A daemon looks them up as it starts."""
    with FakeFacebook() as fake:
        env = base_env(tmp_path, **fake.service_env(), PUBLISHER_HOUSEKEEPING_INTERVAL="3600")
        store = open_store(tmp_path)
        now = datetime.now(UTC)
        text = "Пост, отправленный перед тем, как демон умер"
        post = Post(
            source_name="p.md", source_key="p" * 64, targets=("facebook",), approved_by="ed", body=text
        )
        store.add_post(post, now)
        (claim,) = store.claim_due(now, worker="dead:1", lease_seconds=30)
        attempt = claim.delivery.attempt_id or ""
        assert store.mark_sending(claim.delivery.id, attempt, now, SentPost(text))
        store.record_in_doubt(
            claim.delivery.id, attempt, now, "the daemon died during the call", reconcile_at=now
        )
        on_page = fake.add_post(text)  # the dead daemon's post did reach the Page
        daemon = DaemonProcess(env, "run")
        try:
            found = wait_until(lambda: store.deliveries()[0].state is S.PUBLISHED, timeout=60)
            assert found, daemon.output
        finally:
            daemon.stop()
        (d,) = store.deliveries()
        assert d.remote_id == on_page.id and fake.applied == []  # found, not sent again
