"""The editors' language: gettext catalogs for every editor-facing text (Russian by default, English by setting).

Source strings are English and marked with ``_()`` (or ``ngettext``); ``publisher/locale/<lang>/LC_MESSAGES/
publisher.po`` holds each translation. Only the ``.po`` text is kept in git: a wheel carries the compiled ``.mo``
(``setup.py`` compiles it in ``build_py``), and a source checkout or an editable install compiles the ``.po`` in
memory with Babel on first use when no up-to-date ``.mo`` sits next to it. ``make messages`` re-extracts the
template and updates the catalogs (Babel's ``pybabel extract`` / ``update``).

The language is one per process (``PUBLISHER_LANGUAGE``, set by the CLI and the daemon through
``set_language``): rejection notes, receipts, chat messages and ``preview`` use it. Operators' logs stay
English: log calls never go through ``_()``.
"""

from __future__ import annotations

import gettext
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

DOMAIN = "publisher"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: English is the source language: its "catalog" is the identity.
LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"

_lock = threading.Lock()
_loaded: dict[str, gettext.NullTranslations] = {}
_current = DEFAULT_LANGUAGE


def catalog_path(language: str, suffix: str = ".po") -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


def compile_po(po_path: Path) -> bytes:
    """The ``.mo`` bytes of one catalog (Babel's reader and writer; fuzzy entries are left out)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path.open("rb") as source:
        catalog = read_po(source, domain=DOMAIN)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def translations(language: str) -> gettext.NullTranslations:
    """The catalog of ``language``, loaded once: the installed ``.mo``, else the ``.po`` compiled in memory."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    with _lock:
        found = _loaded.get(language)
        if found is not None:
            return found
        if language == "en":
            found = gettext.NullTranslations()
        else:
            po, mo = catalog_path(language), catalog_path(language, ".mo")
            if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
                data = mo.read_bytes()
            else:
                data = compile_po(po)
            found = gettext.GNUTranslations(io.BytesIO(data))
        _loaded[language] = found
        return found


def set_language(language: str) -> None:
    """Make ``language`` the one every editor-facing text of this process is written in."""
    global _current
    translations(language)  # fail early on an unknown language or a broken catalog
    _current = language


def current_language() -> str:
    return _current


@contextmanager
def language(name: str) -> Iterator[None]:
    """Write in ``name`` for the duration of the block (tests, one-off texts)."""
    previous = _current
    set_language(name)
    try:
        yield
    finally:
        set_language(previous)


def _(message: str) -> str:
    """The translation of ``message`` into the current language."""
    return translations(_current).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_current).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a string for extraction without translating it yet (translated where it is shown)."""
    return message


def local_time(when: datetime, zone: ZoneInfo) -> str:
    """A time as editors read it: local wall time with the zone named, e.g. ``2026-12-01 18:00 (Europe/Minsk)``."""
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"
