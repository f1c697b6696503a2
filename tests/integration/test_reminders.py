"""The daily reminder reaches the team chat once per gap per day, naming the rubric, the owner and the date.

Real parts: a SQLite queue, the Telegram Bot API fake (sendMessage, https://core.telegram.org/bots/api#sendmessage)
and a fake clock; the reminder job is the one the daemon schedules.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.compose.directory import load_directory
from publisher.i18n import language
from publisher.models import Post
from publisher.ops.alerts import Alerter
from publisher.plan.remind import Reminders
from publisher.plan.service import PlanSource
from publisher.settings import Settings
from publisher.store import Store
from tests.conftest import FakeClock
from tests.fakes.telegram import FakeChat, FakeTelegram

TEAM_CHAT = -1009876543210
DIRECTORY = """\
rubrics:
  древняядичь:
    hashtags: [древняядичь]
    owner: отдел редких книг (Е. Ковалёва, @e_kovaleva)
    cadence: {weekly: [wed]}
    slots: ["18:00"]
  чтотознакомое:
    hashtags: [чтотознакомое]
    owner: {name: М. Жук, telegram: m_zhuk}
    cadence: {weekly: [thu]}
    paused: true
  бюроизобретений:
    hashtags: [бюроизобретений]
    owner: А. Лисовский (@a_lisovsky)
    cadence: {monthly: 20}
"""
DATES = """\
dates:
  - date: "12-22"
    title: День энергетика
    rubric: бюроизобретений
  - date: "12-10"
    title: День основания БНТУ
"""
# Monday 2026-12-07, 10:00 in Minsk: Wednesday 9 Dec is 2 days ahead, BNTU's day (10 Dec) 3 days ahead,
# the 20th (бюроизобретений) and 22 Dec (День энергетика) further than 3 and 7 days.
MONDAY_10 = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    fake.add_chat(FakeChat(id=TEAM_CHAT, type="supergroup", title="SMM библиотеки", bot_status="member"))
    with fake:
        yield fake


@pytest.fixture
def setup(tmp_path: Path, telegram: FakeTelegram) -> Iterator[tuple[Reminders, Store, FakeClock]]:
    """Reminders as the team reads them: in Russian, the editors' default language."""
    (tmp_path / "directory.yaml").write_text(DIRECTORY, encoding="utf-8")
    (tmp_path / "dates.yaml").write_text(DATES, encoding="utf-8")
    settings = Settings(
        data_dir=tmp_path / "var",
        directory_file=tmp_path / "directory.yaml",
        dates_file=tmp_path / "dates.yaml",
        telegram={"api_url": telegram.url, "bot_token": telegram.token},
        alerts={"telegram_chat_id": str(TEAM_CHAT)},
    )
    store = Store(settings.resolved_database_url)
    directory = load_directory(settings.directory_file)
    clock = FakeClock(MONDAY_10)
    source = PlanSource(store, settings, lambda: directory)
    with language("ru"):
        yield Reminders(source, store, Alerter(settings), clock), store, clock
    store.close()


def test_one_message_per_gap_per_day(
    setup: tuple[Reminders, Store, FakeClock], telegram: FakeTelegram
) -> None:
    reminders, _store, clock = setup
    assert reminders.run() == 2
    rubric, date = telegram.texts_sent_to(TEAM_CHAT)
    assert "#древняядичь" in rubric and "@e_kovaleva" in rubric and "ср 09.12.2026 18:00" in rubric
    assert "День основания БНТУ" in date and "чт 10.12.2026" in date
    assert not any(
        "чтотознакомое" in t or "@m_zhuk" in t for t in telegram.texts_sent_to(TEAM_CHAT)
    )  # paused

    clock.advance(hours=5)  # a restart, a second run the same day: nothing new
    assert reminders.run() == 0
    assert len(telegram.texts_sent_to(TEAM_CHAT)) == 2

    clock.advance(hours=19)  # Tuesday: the same gaps, one more message each
    assert reminders.run() == 2
    assert len(telegram.texts_sent_to(TEAM_CHAT)) == 4


def test_a_filled_slot_and_a_covered_date_are_not_reminded(
    setup: tuple[Reminders, Store, FakeClock], telegram: FakeTelegram
) -> None:
    reminders, store, clock = setup
    for n, (rubric, due) in enumerate(
        [
            ("древняядичь", datetime(2026, 12, 9, 15, 0, tzinfo=UTC)),
            (None, datetime(2026, 12, 10, 9, 0, tzinfo=UTC)),
        ]
    ):
        post = Post(f"p{n}.md", f"{n}" * 64, ("vk",), "редактор дня", "Текст", publish_at=due, rubric=rubric)
        store.add_post(post, MONDAY_10)
    assert reminders.run() == 0
    clock.advance(days=8)  # Tuesday 15 Dec: the 16th is empty; День энергетика (22nd) is 7 days ahead
    assert reminders.run() == 2
    texts = telegram.texts_sent_to(TEAM_CHAT)
    assert "ср 16.12.2026" in texts[0]
    assert "День энергетика" in texts[1] and "@a_lisovsky" in texts[1] and "#бюроизобретений" in texts[1]


def test_a_refused_message_is_tried_again_later_that_day(
    setup: tuple[Reminders, Store, FakeClock], telegram: FakeTelegram
) -> None:
    reminders, _store, clock = setup
    telegram.fail_server_error("sendMessage")
    assert reminders.run() == 1  # the first gap's message failed, the second went out
    clock.advance(hours=1)
    assert reminders.run() == 1
    assert len(telegram.texts_sent_to(TEAM_CHAT)) == 2
