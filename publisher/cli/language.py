"""The command line's own language: help, usage and usage errors in the editors' language (Russian by default).

The language has to be known before the parser is built (every help text is translated as it is added), so
it is read cheaply, without loading the settings: ``PUBLISHER_LANGUAGE`` from the environment, else the
``PUBLISHER_LANGUAGE`` line of the settings file the command would load (``--settings FILE``, else
``$PUBLISHER_SETTINGS_FILE``, else ``./settings.env``). Anything that goes wrong there (no such file, an
unreadable one, an unknown language) means Russian: ``--help`` must work even when the settings do not, and a
command that runs still loads the settings for real and reports a broken file as it always has.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from publisher import i18n
from publisher.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, _
from publisher.settings_names import DEFAULT_SETTINGS_FILE, ENV_PREFIX

LANGUAGE_VARIABLE = f"{ENV_PREFIX}LANGUAGE"
SETTINGS_OPTION = "--settings"
#: a settings file is a few kilobytes; reading no more than this keeps ``--help`` cheap whatever it names
_READ_AT_MOST = 1 << 20

#: argparse's own words that this command line can show, so that ``make messages`` keeps them in the
#: catalogs (argparse asks for them by these exact English texts; see ``speak_argparse``).
ARGPARSE_WORDS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("not allowed with argument %s"),
    N_("unrecognized arguments: %s"),
    N_("expected one argument"),
    N_("ignored explicit argument %r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
)


def speak_argparse() -> None:
    """Let argparse write its own words (``usage:``, ``options:``, its errors) in the process's language.

    argparse looks each of them up with the ``_`` and ``ngettext`` names of its module, which it imports
    from :mod:`gettext` and calls when it writes (the mechanism the Python docs describe under "How to
    translate the argparse output"). They are pointed at the project's catalog functions, which follow
    ``set_language``. The alternatives were worse: making ``publisher`` the stdlib's default gettext domain
    (``gettext.textdomain``) would change it for every library in the process, needs a compiled ``.mo`` on
    disk (a source checkout compiles the ``.po`` in memory) and takes the language from ``LANGUAGE``/``LANG``
    rather than ``PUBLISHER_LANGUAGE``; overriding parser methods cannot reach most messages, which argparse
    composes inside private methods and hands to ``error()`` already written in English. English is the
    identity catalog, so with ``PUBLISHER_LANGUAGE=en`` argparse reads exactly as before.
    """
    vars(argparse).update(_=i18n._, ngettext=i18n.ngettext)


def cli_language(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> str:
    """The language of the command line's texts, read before anything else is loaded; Russian on any doubt."""
    env = os.environ if environ is None else environ
    chosen = _variable(env.items())
    if chosen is None:
        chosen = _from_settings_file(_settings_file(argv, env))
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def _variable(pairs: Iterable[tuple[str, str]]) -> str | None:
    """``PUBLISHER_LANGUAGE``'s value among ``(name, value)`` pairs, the last one winning; names in any case,
    as the settings read them."""
    found = None
    for name, value in pairs:
        if name.strip().upper() == LANGUAGE_VARIABLE:
            found = value
    return found


def _settings_file(argv: Sequence[str], env: Mapping[str, str]) -> Path:
    """The settings file ``load_settings`` would read: the ``--settings`` of ``argv`` (also ``--settings=F``
    and the abbreviations argparse accepts, e.g. ``--sett F``), else ``$PUBLISHER_SETTINGS_FILE``, else
    ``./settings.env`` when it exists."""
    named: str | None = None
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        option, equals, value = arg.partition("=")
        if len(option) < 3 or not SETTINGS_OPTION.startswith(option):
            continue
        if equals:
            named = value
        elif index + 1 < len(argv):
            named = argv[index + 1]
    chosen = named or env.get(f"{ENV_PREFIX}SETTINGS_FILE")
    return Path(chosen) if chosen else DEFAULT_SETTINGS_FILE


def _from_settings_file(path: Path) -> str | None:
    """The ``PUBLISHER_LANGUAGE=`` line of a dotenv settings file (quotes, ``export`` and a trailing comment
    allowed); ``None`` when the file is missing, unreadable or says nothing about the language."""
    try:
        if not path.is_file():
            return None
        with path.open("rb") as source:
            text = source.read(_READ_AT_MOST).decode("utf-8", errors="replace")
    except OSError:
        return None
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, equals, value = line.partition("=")
        if not equals or line.startswith("#"):
            continue
        value = value.strip()
        if value[:1] in ("'", '"') and value[1:].find(value[0]) >= 0:
            value = value[1 : 1 + value[1:].find(value[0])]
        else:
            value = value.split(" #", 1)[0].strip()
        pairs.append((name, value))
    return _variable(pairs)


def whole_number(text: str) -> int:
    """``type=`` of the number arguments: argparse would refuse ``--limit ten`` as an ``invalid int value``."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("{value!r} is not a whole number").format(value=text)) from None


def add_command(sub: Any, name: str, text: str, **options: Any) -> argparse.ArgumentParser:
    """A subcommand whose one-line ``text`` (already translated) is both its line in the list of commands and
    the first line of its own ``--help``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=text, description=text[:1].upper() + text[1:], **options
    )
    return parser
