"""Text that is safe to print on a terminal, write to a log line, or store: no control characters.

A file name or a network's answer can carry a newline (a forged log line), ANSI/OSC escape sequences (that
clear an operator's screen or retitle the terminal), or a lone surrogate (a file name that is not valid UTF-8,
decoded by Python with ``surrogateescape``), which no UTF-8 writer accepts. ``printable`` turns each of those
into a visible escape (``\\n``, ``\\x1b``, ``\\udccf``) and leaves every other character - Cyrillic, emoji -
as it is. JSON output does not use it: JSON escapes control characters itself and must stay exact.
"""

from __future__ import annotations

import re

#: C0 and C1 controls, DEL, the Unicode line/paragraph separators, the bidirectional overrides and
#: isolates (which reorder what a terminal shows), and lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, *, keep: str = "") -> str:
    """``text`` with every unsafe character escaped, except those in ``keep`` (e.g. ``"\\n"`` for notes)."""
    if keep:
        return "".join(c if c in keep else _UNSAFE.sub(_escape, c) for c in text)
    return _UNSAFE.sub(_escape, text)


def has_unsafe(text: str, *, allowed: str = "") -> str | None:
    """The first unsafe character of ``text`` that is not in ``allowed``, or None."""
    for match in _UNSAFE.finditer(text):
        if match.group() not in allowed:
            return match.group()
    return None
