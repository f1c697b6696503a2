"""The report's words in a given language, from the project's gettext catalogs (``publisher/i18n.py``).

The report is written for the language asked for (``--language``, else ``PUBLISHER_LANGUAGE``), which need
not be the process's current one, so it reads that catalog directly. Every text is marked with ``_()`` /
``N_()`` where it is written, so ``make messages`` extracts it.
"""

from __future__ import annotations

from collections.abc import Callable

from publisher.i18n import N_, translations

Translate = Callable[[str], str]

MONTHS = (
    N_("January"),
    N_("February"),
    N_("March"),
    N_("April"),
    N_("May"),
    N_("June"),
    N_("July"),
    N_("August"),
    N_("September"),
    N_("October"),
    N_("November"),
    N_("December"),
)


def translator(language: str) -> Translate:
    """The report's translation function: Russian unless ``language`` is English."""
    return translations(lang_code(language)).gettext


def lang_code(language: str) -> str:
    return "en" if language.lower().startswith("en") else "ru"


def month_name(language: str, year: int, month: int) -> str:
    """``ноябрь 2026`` / ``November 2026``: the month as a calendar heading names it."""
    return f"{translator(language)(MONTHS[month - 1])} {year}"


def number(value: float | None, language: str, digits: int = 0) -> str:
    """A figure as editors read it: thin-space thousands and a decimal comma in Russian; "–" when missing."""
    if value is None:
        return "–"
    text = f"{value:,.{digits}f}"
    if lang_code(language) == "ru":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def percent(value: float | None, language: str, *, signed: bool = False) -> str:
    if value is None:
        return "–"
    sign = "+" if signed and value > 0 else ""
    return sign + number(value * 100, language, 1) + "\u00a0%"
