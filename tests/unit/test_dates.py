"""The memorable dates file: yearly and one-off dates, and every mistake named with its line and fix."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from publisher.errors import InputError
from publisher.plan.dates import load_dates, parse_dates

ROOT = Path(__file__).resolve().parents[2]


def test_yearly_and_one_off_dates_fall_on_their_days() -> None:
    energy, writing, leap = parse_dates(
        'dates:\n  - {date: "12-22", title: День энергетика, hashtags: ["#ДеньЭнергетика"]}\n'
        '  - {date: "2026-09-06", title: День белорусской письменности, rubric: древняядичь}\n'
        '  - {date: "02-29", title: Високосный день}\n',
        rubrics=["древняядичь"],
    )
    assert energy.occurrences(date(2026, 1, 1), date(2027, 12, 31)) == [
        date(2026, 12, 22),
        date(2027, 12, 22),
    ]
    assert energy.hashtags == ("ДеньЭнергетика",)
    assert writing.occurrences(date(2026, 1, 1), date(2027, 12, 31)) == [date(2026, 9, 6)]
    assert writing.rubric == "древняядичь"
    assert leap.occurrences(date(2027, 1, 1), date(2028, 12, 31)) == [date(2027, 2, 28), date(2028, 2, 29)]


def test_mistakes_name_the_line_and_the_fix() -> None:
    text = """\
dates:
  - date: "13-01"
    title: Нет такого месяца
  - date: 2026-09-06
  - date: "09-15"
    title: День библиотек
    rubric: нетрубрики
    when: always
"""
    with pytest.raises(InputError) as caught:
        parse_dates(text, "dates.yaml", rubrics=["древняядичь"])
    message = str(caught.value)
    assert "dates[0].date (line 2) '13-01' is not a date" in message and "in quotes" in message
    assert "dates[1] (line 4) has no title" in message
    assert "dates[2].rubric (line 7) 'нетрубрики' is not a rubric" in message
    assert "dates[2].when (line 8) is not a known key" in message


def test_the_shipped_example_is_valid_and_holds_the_examples_the_team_asked_for() -> None:
    titles = [d.title for d in load_dates(ROOT / "dates.example.yaml", ["древняядичь", "бюроизобретений"])]
    assert "День энергетика" in titles
    assert any(t.startswith("День белорусской письменности") for t in titles)
    assert any(t.startswith("День основания БНТУ") for t in titles)
