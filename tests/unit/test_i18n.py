"""The editors' language: every marked text has a Russian translation, and the catalogs work from source."""

from __future__ import annotations

import re
import string

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from publisher import i18n
from publisher.i18n import LOCALE_DIR, _, catalog_path, language

KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def source_messages() -> set[str]:
    """Every message id marked in the package's sources, extracted the way ``make messages`` does."""
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        LOCALE_DIR.parent, keywords=KEYWORDS, method_map=[("**.py", "python")]
    ):
        found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def catalog() -> dict[str, list[str]]:
    with catalog_path("ru").open("rb") as source:
        po = read_po(source)
    result: dict[str, list[str]] = {}
    for m in po:
        if not m.id:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        for msgid in ids:
            result[msgid] = [] if m.fuzzy else strings
    return result


def fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


def test_every_message_in_the_code_has_a_russian_translation() -> None:
    ru = catalog()
    missing = sorted(m for m in source_messages() if not all(ru.get(m) or [""]))
    assert not missing, f"no Russian text (run `make messages`, then translate): {missing}"


def test_translations_keep_every_placeholder() -> None:
    """A translation that loses or renames ``{name}`` would raise at the editor's expense, not ours."""
    wrong = {
        msgid: strings
        for msgid, strings in catalog().items()
        if any(fields(s) != fields(msgid) for s in strings if s)
    }
    assert not wrong


def test_translations_keep_every_percent_placeholder() -> None:
    """argparse's own words are ``%``-formatted (``%(prog)s: error: %(message)s``): the same rule for them."""

    def percent(text: str) -> list[str]:
        return sorted(re.findall(r"%(?:\(\w+\))?[sdr%]", text))

    wrong = {
        msgid: strings
        for msgid, strings in catalog().items()
        if any(percent(s) != percent(msgid) for s in strings if s)
    }
    assert not wrong


def test_russian_is_the_default_and_english_the_source() -> None:
    assert i18n.DEFAULT_LANGUAGE == "ru"
    with language("ru"):
        assert _("is missing") == "— не заполнено"
    with language("en"):
        assert _("is missing") == "is missing"


def test_catalog_compiles_from_source_when_no_mo_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A source checkout has only the .po: it is compiled in memory, and the .mo never lands in git."""
    assert not list(LOCALE_DIR.rglob("*.mo")) or re.search(
        r"\*\.mo", (LOCALE_DIR.parents[1] / ".gitignore").read_text()
    )
    monkeypatch.setattr(i18n, "_loaded", {})
    assert i18n.translations("ru").gettext("is empty") == "— пусто"
