"""The daemon keeps DATA_DIR/plan.ics in step with the queue, including changes made by other processes."""

from __future__ import annotations

from pathlib import Path

import icalendar

from publisher.store import Store
from tests.daemon_helpers import ROOT, DaemonProcess, base_env, run_cli
from tests.fakes.telegram import FakeChat, FakeTelegram
from tests.helpers import wait_until as wait_for


def events(path: Path) -> dict[str, icalendar.Event]:
    try:
        cal = icalendar.Calendar.from_ical(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


DIRECTORY = """\
rubrics:
  древняядичь:
    hashtags: [древняядичь]
    owner: отдел редких книг (@e_kovaleva)
    cadence: {biweekly: [wed]}
    slots: ["18:00"]
    networks: [vk, telegram]
  новинки:
    hashtags: [новинки]
    owner: отдел комплектования (@o_novik)
    cadence: {every_days: 1}
"""


def test_plan_ics_follows_a_slot_post_and_its_cancellation(tmp_path: Path) -> None:
    team = -1009999
    (tmp_path / "directory.yaml").write_text(DIRECTORY, encoding="utf-8")
    with FakeTelegram() as tg:
        tg.add_chat(FakeChat(id=team, type="supergroup", title="SMM team", bot_status="member"))
        env = base_env(
            tmp_path,
            PUBLISHER_DIRECTORY_FILE=str(tmp_path / "directory.yaml"),
            PUBLISHER_DATES_FILE=str(ROOT / "dates.example.yaml"),
            PUBLISHER_HOUSEKEEPING_INTERVAL="0.5",
            PUBLISHER_TELEGRAM__API_URL=tg.url,
            PUBLISHER_ALERTS__TELEGRAM_BOT_TOKEN=tg.token,
            PUBLISHER_ALERTS__TELEGRAM_CHAT_ID=str(team),
            PUBLISHER_REMIND_AT="00:00",  # started after today's time: the daemon reminds at once
        )
        follow_the_queue(tmp_path, env)
        texts = tg.texts_sent_to(team)
        assert any("#новинки" in t and "@o_novik" in t for t in texts), texts  # due every day: always a gap
        assert len(texts) == len(set(texts))  # one message per gap


def follow_the_queue(tmp_path: Path, env: dict[str, str]) -> None:
    inbox, ics = tmp_path / "var" / "inbox", tmp_path / "var" / "plan.ics"
    daemon = DaemonProcess(env, "run", "--dry-run")
    try:
        assert wait_for(lambda: ics.exists()), daemon.output
        empty_slots = {uid for uid in events(ics) if uid.startswith("slot-")}
        assert empty_slots, "the example directory's rubrics have empty slots ahead"
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / ".dich.part").write_text(
            "---\nrubric: древняядичь\napproved_by: редактор дня\npublish_at: slot\n---\nРедкая книга\n",
            "utf-8",
        )
        (inbox / ".dich.part").rename(inbox / "dich.md")
        assert wait_for(lambda: "post-1@publisher" in events(ics)), daemon.output
        store = Store(f"sqlite:///{tmp_path / 'var' / 'publisher.db'}")
        due = {d.due_at for d in store.deliveries()}
        assert len(due) == 1 and events(ics)["post-1@publisher"].decoded("DTSTART") == due.pop()
        assert "took the slot" in daemon.output
        filled = empty_slots - {uid for uid in events(ics) if uid.startswith("slot-")}
        assert len(filled) == 1  # the rubric's slot on that day is no longer empty

        for d in store.deliveries():
            assert run_cli(env, "cancel", str(d.id)).returncode == 0
        assert wait_for(lambda: "post-1@publisher" not in events(ics)), daemon.output
        assert {uid for uid in events(ics) if uid.startswith("slot-")} == empty_slots
        store.close()
    finally:
        daemon.stop()
