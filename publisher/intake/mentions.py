"""No literal typos: an ``@word`` in a post must name someone in the directory, or be escaped as ``\\@word``.

A typo such as ``@fmpp`` (for ``@fmmp``) would otherwise be published as written and may point at a stranger's
account on X or Telegram. So acceptance refuses it and suggests the closest key; ``\\@word`` publishes the word as
written (the composer drops the backslash). A network handle from the directory (``@fitr_bntu``) is accepted
too: it is someone we know.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from publisher.compose.directory import Directory
from publisher.errors import InputError
from publisher.i18n import _
from publisher.intake.fieldcheck import directory_fix
from publisher.models import NETWORKS, Post

# The composer's @word (publisher.compose.composer._AT_WORD), not preceded by a backslash.
_AT_WORD = re.compile(r"(?<![\w@.+\-/&#\\])@(\w++)(?![.\-]\w|@)")


def unknown_mentions(texts: Iterable[str], directory: Directory) -> list[str]:
    """The ``@words`` of ``texts`` that are neither a directory key nor a known handle, in order, once each."""
    found: list[str] = []
    for text in texts:
        for match in _AT_WORD.finditer(text):
            word = match.group(1)
            if word[0].isdigit() or word in found:
                continue  # "@2x", "@10": not a mention
            if word.isascii() and directory.entity(word) is not None:
                continue
            if any(directory.entity_by_handle(network, word) for network in NETWORKS):
                continue
            found.append(word)
    return found


def check_mentions(post: Post, directory: Directory) -> None:
    """Raise ``InputError`` naming every unknown ``@word`` with the closest directory key."""
    unknown = unknown_mentions([post.body, *post.overrides.values()], directory)
    if not unknown:
        return
    keys = list(directory.entities)
    problems = []
    for word in unknown:
        close = difflib.get_close_matches(word.lower(), keys, n=1)
        hint = _(" — did you mean @{key}?").format(key=close[0]) if close else ""
        problems.append(_("@{word}: not in the directory{hint}").format(word=word, hint=hint))
    raise InputError(
        post.source_name,
        "text",
        "; ".join(problems),
        directory_fix(
            directory,
            _("write a key from the directory, or \\@{word} to publish it exactly as written").format(
                word=unknown[0]
            ),
        ),
    )
