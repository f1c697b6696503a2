"""Rubric cadences in the directory: the days they give, and every mistake named with its line and fix."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.compose.directory import parse_directory
from publisher.errors import InputError
from publisher.plan.cadence import CadenceError, parse_cadence

DEC_1 = date(2026, 12, 1)  # a Tuesday


def days(spec: object, first: date = DEC_1, last: date = date(2026, 12, 31)) -> list[int]:
    return [d.day for d in parse_cadence(spec).days(first, last)]


def test_weekly_on_weekdays_in_english_and_russian() -> None:
    assert days({"weekly": ["tue", "пт"]}) == [1, 4, 8, 11, 15, 18, 22, 25, 29]


def test_biweekly_follows_its_start_week() -> None:
    assert days({"biweekly": ["wed"], "start": "2026-12-02"}) == [2, 16, 30]
    assert days({"biweekly": ["wed"], "start": "2026-12-09"}) == [9, 23]


def test_every_n_days_from_start() -> None:
    assert days({"every_days": 10, "start": "2026-11-25"}) == [5, 15, 25]


def test_monthly_on_a_day_falls_back_to_the_last_day_of_short_months() -> None:
    assert days({"monthly": 31}, date(2027, 1, 1), date(2027, 4, 30)) == [31, 28, 31, 30]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("раз в две недели", "must be a mapping"),
        ({"weekly": ["tue"], "monthly": 3}, "exactly one of"),
        ({"weekly": ["tuesdy"]}, "'tuesdy' is not a weekday"),
        ({"every_days": 0}, "every_days must be a whole number"),
        ({"monthly": 32}, "monthly must be a day of the month"),
        ({"weekly": ["tue"], "every": 2}, "unknown keys: every"),
        ({"biweekly": ["wed"], "start": "next week"}, "is not a date"),
    ],
)
def test_bad_cadences_say_what_to_write(spec: object, problem: str) -> None:
    with pytest.raises(CadenceError) as caught:
        parse_cadence(spec)
    assert problem in caught.value.problem and caught.value.fix


DIRECTORY = """\
entities:
  kovaleva:
    name: Е. Ковалёва
    telegram: e_kovaleva
rubrics:
  древняядичь:
    hashtags: [древняядичь]
    owner: kovaleva
    cadence: {biweekly: [wed], start: 2026-12-02}
    slots: ["18:30", "10:00"]
    networks: [vk, telegram, vk:bntu]
  бюроизобретений:
    hashtags: [бюроизобретений]
    owner: отдел патентной информации (@a_lisovsky)
    cadence: {monthly: 15}
    paused: true
    remind_days: 5
  чтотознакомое:
    hashtags: [чтотознакомое]
    owner: {name: М. Жук, telegram: "@m_zhuk"}
"""


def test_rubric_plan_fields_are_read() -> None:
    directory = parse_directory(DIRECTORY)
    old = directory.rubrics["древняядичь"]
    assert old.cadence is not None and old.cadence.describe() == "every other week on Wed"
    assert old.slots == (time(10, 0), time(18, 30))
    assert old.networks == ("vk", "telegram", "vk:bntu")
    assert (old.owner, old.owner_mention, old.paused) == ("Е. Ковалёва", "@e_kovaleva", False)
    patents = directory.rubrics["бюроизобретений"]
    assert (patents.paused, patents.remind_days, patents.owner_mention) == (True, 5, "@a_lisovsky")
    guess = directory.rubrics["чтотознакомое"]
    assert (guess.owner, guess.owner_telegram, guess.cadence) == ("М. Жук", "m_zhuk", None)


def test_rubric_mistakes_name_the_line() -> None:
    text = """\
rubrics:
  древняядичь:
    hashtags: [древняядичь]
    cadence: {weekly: [tuesdy]}
    slots: [18:30]
    networks: [vkontakte]
    paused: maybe
    owner: {name: Е. Ковалёва, telegram: "a b"}
"""
    with pytest.raises(InputError) as caught:
        parse_directory(text, "directory.yaml")
    message = str(caught.value)
    assert "rubrics.древняядичь.cadence (line 4) 'tuesdy' is not a weekday" in message
    assert "rubrics.древняядичь.slots (line 5)" in message and "in quotes" in message
    assert "rubrics.древняядичь.networks (line 6) 'vkontakte' is not a network" in message
    assert "rubrics.древняядичь.paused (line 7) must be true or false" in message
    assert "rubrics.древняядичь.owner.telegram (line 8)" in message


@given(
    st.sampled_from(["weekly", "biweekly"]),
    st.lists(st.integers(0, 6), min_size=1, max_size=7),
    st.dates(date(2026, 1, 1), date(2030, 12, 31)),
)
def test_weekly_cadences_give_each_weekday_once_per_one_or_two_weeks(
    kind: str, weekdays: list[int], first: date
) -> None:
    names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    cadence = parse_cadence({kind: [names[d] for d in weekdays]})
    span = 7 if kind == "weekly" else 14
    found = list(cadence.days(first, first + timedelta(days=span - 1)))
    assert sorted(d.weekday() for d in found) == sorted(set(weekdays))
    assert all(cadence.is_due(d) for d in found)
