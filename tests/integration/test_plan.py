"""``publisher plan``, ``plan --ics``, ``rubric list`` and ``dates import`` on a real SQLite queue.

What an editor would notice: empty rubric slots and uncovered dates are listed, a post of the rubric fills its
slot, a paused rubric shows no empty slot, and the calendar file keeps one event per thing across runs.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from publisher.cli import main
from publisher.store import Store

ZONE_TODAY = datetime.now(UTC).astimezone(ZoneInfo("Europe/Minsk")).date()
# A Monday at least a week ahead: the period is in the future whatever day the suite runs.
MONDAY = ZONE_TODAY + timedelta(days=7 + (7 - ZONE_TODAY.weekday()) % 7)
WED, THU = MONDAY + timedelta(days=2), MONDAY + timedelta(days=3)
DIRECTORY = """\
rubrics:
  древняядичь:
    hashtags: [древняядичь]
    owner: отдел редких книг (@e_kovaleva)
    cadence: {weekly: [wed]}
    slots: ["18:00"]
    networks: [vk, telegram]
  чтотознакомое:
    hashtags: [чтотознакомое]
    owner: М. Жук
    cadence: {weekly: [thu]}
    paused: true
"""


def dates_text() -> str:
    return (
        "dates:\n"
        f'  - date: "{MONDAY + timedelta(days=9):%Y-%m-%d}"\n    title: День энергетика\n    hashtags: [ДеньЭнергетика]\n'
        f'  - date: "{THU:%m-%d}"\n    title: День основания БНТУ\n'
    )


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("PUBLISHER_"):
            monkeypatch.delenv(key)
    (tmp_path / "directory.yaml").write_text(DIRECTORY, encoding="utf-8")
    (tmp_path / "dates.yaml").write_text(dates_text(), encoding="utf-8")
    monkeypatch.setenv("PUBLISHER_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PUBLISHER_DIRECTORY_FILE", str(tmp_path / "directory.yaml"))
    monkeypatch.setenv("PUBLISHER_DATES_FILE", str(tmp_path / "dates.yaml"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(list(args)) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def enqueue(folder: Path, name: str, front: str, capsys: pytest.CaptureFixture[Any]) -> None:
    path = folder / name
    path.write_text(f"---\napproved_by: редактор дня\n{front}\n---\nРедкая книга\nВторая строка\n", "utf-8")
    assert main(["enqueue", str(path)]) == 0
    capsys.readouterr()


def test_plan_lists_empty_slots_and_uncovered_dates_and_a_post_fills_its_slot(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = run(capsys, "plan", "--from", MONDAY.isoformat(), "--weeks", "2", "--json")
    slots = [(i["date"], i["rubric"], i["status"]) for i in items if i["kind"] == "slot"]
    second_wed = WED + timedelta(days=7)
    assert [(d, r, s) for d, r, s in slots if r == "древняядичь"] == [
        (WED.isoformat(), "древняядичь", "empty"),
        (second_wed.isoformat(), "древняядичь", "empty"),
    ]
    assert {s for _, r, s in slots if r == "чтотознакомое"} == {"paused"}  # listed, never empty
    dates = [(i["date"], i["title"], i["status"]) for i in items if i["kind"] == "date"]
    assert dates == [
        (THU.isoformat(), "День основания БНТУ", "uncovered"),
        (second_wed.isoformat(), "День энергетика", "uncovered"),
    ]
    empty = next(i for i in items if i["kind"] == "slot" and i["status"] == "empty")
    assert (empty["time"], empty["owner"], empty["networks"]) == ("18:00", "@e_kovaleva", ["vk", "telegram"])

    enqueue(env, "dich.md", f"rubric: древняядичь\npublish_at: {WED} 12:00", capsys)
    enqueue(
        env, "energy.md", f"networks: [x]\nhashtags: [ДеньЭнергетика]\npublish_at: {second_wed} 09:00", capsys
    )
    items = run(capsys, "plan", "--from", MONDAY.isoformat(), "--weeks", "2", "--json")
    [post] = [i for i in items if i["kind"] == "post" and i["rubric"] == "древняядичь"]
    assert post == {
        "date": WED.isoformat(),
        "kind": "post",
        "time": "12:00",
        "post": 1,
        "title": "Редкая книга",
        "rubric": "древняядичь",
        "author": "редактор дня",
        "networks": ["vk", "telegram"],
        "state": "queued",
        "links": [],
    }
    slots = {(i["date"], i["status"]) for i in items if i["kind"] == "slot" and i["rubric"] == "древняядичь"}
    assert slots == {(WED.isoformat(), "filled"), (second_wed.isoformat(), "empty")}
    dates = {i["title"]: i["status"] for i in items if i["kind"] == "date"}
    assert dates == {"День основания БНТУ": "uncovered", "День энергетика": "covered"}

    assert main(["plan", "--from", MONDAY.isoformat(), "--weeks", "2"]) == 0
    text = capsys.readouterr().out
    assert "ПУСТО: рубрика #древняядичь (@e_kovaleva)" in text and "НЕТ ПОСТА" in text


def calendar(capsys: pytest.CaptureFixture[bytes], *extra: str) -> dict[str, icalendar.Event]:
    assert main(["plan", "--ics", "--from", MONDAY.isoformat(), "--weeks", "2", *extra]) == 0
    cal = icalendar.Calendar.from_ical(capsys.readouterr().out)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert len(events) == len(cal.walk("VEVENT"))  # no UID twice
    return events


def test_calendar_uids_are_stable_and_a_moved_post_moves_its_event(
    env: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    enqueue(env, "dich.md", f"rubric: древняядичь\npublish_at: {WED} 12:00", capsysbinary)
    first = calendar(capsysbinary)
    second = calendar(capsysbinary)
    assert set(first) == set(second)
    assert "post-1@publisher" in first
    summaries = sorted(str(e["SUMMARY"]) for e in first.values())
    assert summaries == [
        "Нет поста: рубрика #древняядичь (@e_kovaleva)",  # the second Wednesday
        "Памятная дата без поста: День основания БНТУ",
        "Памятная дата без поста: День энергетика",
        "Редкая книга",
    ]
    assert main(["post", "reschedule", "1", f"{WED} 17:00"]) == 0  # the operator moves the post
    capsysbinary.readouterr()
    moved = datetime.combine(WED, datetime.min.time(), tzinfo=ZoneInfo("Europe/Minsk")) + timedelta(hours=17)
    third = calendar(capsysbinary)
    assert set(third) == set(first)
    assert third["post-1@publisher"].decoded("DTSTART") == moved
    assert first["post-1@publisher"].decoded("DTSTART") != moved


def test_rubric_list_and_dates_import(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    enqueue(env, "dich.md", f"rubric: древняядичь\npublish_at: {WED} 12:00", capsys)
    rows = {r["rubric"]: r for r in run(capsys, "rubric", "list", "--json")}
    dich = rows["древняядичь"]
    assert (
        dich["cadence"] == {"weekly": ["wed"]}
        and dich["cadence_text"] == "каждую неделю: ср"
        and dich["paused"] is False
    )
    assert dich["next_post"] is not None and dich["telegram"] == "e_kovaleva"
    assert rows["чтотознакомое"]["paused"] is True

    ics = icalendar.Calendar()
    ics.add("prodid", "-//test//RU")
    ics.add("version", "2.0")
    for title, start, yearly in [
        ("День науки", date(2027, 1, 31), False),
        ("День книги", date(2020, 4, 23), True),
    ]:
        event = icalendar.Event()
        event.add("uid", title)
        event.add("dtstamp", datetime(2026, 1, 1, tzinfo=UTC))
        event.add("dtstart", start)
        event.add("summary", title)
        if yearly:
            event.add("rrule", {"freq": "yearly"})
        ics.add_component(event)
    (env / "team.ics").write_bytes(ics.to_ical())
    assert main(["dates", "import", str(env / "team.ics")]) == 0
    assert "новых дат добавлено: 2" in capsys.readouterr().out
    assert main(["dates", "import", str(env / "team.ics")]) == 0
    assert "новых дат добавлено: 0" in capsys.readouterr().out
    text = (env / "dates.yaml").read_text("utf-8")
    assert '- date: "2027-01-31"\n    title: "День науки"' in text and '- date: "04-23"' in text
    assert text.startswith(dates_text())  # the team's own lines (and comments) stay as they were


def test_a_published_post_carries_its_links_in_the_calendar(
    env: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    from publisher.models import Post, PublishResult

    store = Store(f"sqlite:///{env / 'var' / 'publisher.db'}")
    now = datetime.now(UTC)
    store.add_post(
        Post("kino.md", "k" * 64, ("vk", "x"), "редактор дня", "Киноклуб: «Солярис»\nв четверг"), now
    )
    vk, _x = store.claim_due(now, worker="test", lease_seconds=60)
    url = "https://vk.com/wall-1_2"
    store.record_published(
        vk.delivery.id, vk.delivery.attempt_id or "", PublishResult("-1_2", url, now), now, {}
    )
    store.close()
    assert main(["plan", "--ics", "--from", ZONE_TODAY.isoformat(), "--weeks", "1"]) == 0
    cal = icalendar.Calendar.from_ical(capsysbinary.readouterr().out)
    [event] = [e for e in cal.walk("VEVENT") if str(e["UID"]) == "post-1@publisher"]
    assert str(event["SUMMARY"]) == "Киноклуб: «Солярис»" and str(event["URL"]) == url
    description = str(event["DESCRIPTION"])
    assert "Сети: vk, x" in description and f"vk: {url}" in description
