"""X's weighted length, the number ``twitter_text.parse_tweet(text).weightedLength`` gives, at a fraction
of its cost.

Why: ``parse_tweet`` cost ~1 ms per X text in the throughput benchmark (issue 12), about 5 % of the whole
pipeline's CPU: its emoji regex (thousands of alternatives, tried at every position) took ~0.64 ms, the URL
regex ~0.15 ms, and a Python call per character for the weights the rest. This module runs the same count
with the same parts of twitter-text (its URL extractor, its emoji regex, its configuration) and skips only
work that provably cannot change the result:

* the emoji scan, when the text holds no character that can be part of a match: every match of twitter-text's
  emoji regex is either one code point of its single-code-point class or a sequence of two or more code
  points, whose second one is then in the text too; the set of those characters is read from the compiled
  regex itself (a pattern of another shape turns this shortcut off), and any character beyond the BMP
  counts as one of them (it keeps the test a fast class);
* the URL scan, when no ``<domain char>.<top-level domain>`` occurs: every URL twitter-text extracts
  contains one (its domain pattern ends that way). That test is twitter-text's own domain pieces, with a
  look-ahead that fails fast after a dot followed by a space, a digit or ASCII punctuation, characters no
  top-level domain starts with (checked on the list when this module is imported);
* the per-character weights, counted by one regex over the characters outside the configured ranges.

``tests/unit/test_x_length.py`` compares the result with ``parse_tweet`` over a varied corpus.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from twitter_text import parse_tweet
from twitter_text.config import config
from twitter_text.extract_urls import extract_urls_with_indices
from twitter_text.regexp.emoji import emoji
from twitter_text.regexp.valid_cctld import valid_cctld
from twitter_text.regexp.valid_domain_chars import valid_domain_chars
from twitter_text.regexp.valid_gtld import valid_gtld
from twitter_text.regexp.valid_punycode import valid_punycode

#: the options ``parse_tweet`` counts with when given none
OPTIONS: dict[str, Any] = config["defaults"]
#: twitter-text's emoji regex
EMOJI: re.Pattern[str] = emoji
_CODE_POINT = r"\\U([0-9a-fA-F]{8})"


def emoji_characters(pattern: str) -> frozenset[int] | None:
    """Code points without which twitter-text's emoji ``pattern`` cannot match: those of its single-code-point
    class and the second code point of each multi-code-point alternative. None when the pattern is not
    ``alternatives|[class]`` of ``\\U`` escapes, the shape twitter-text builds it in."""
    sequences, bracket, members = pattern.rpartition("|[")
    if not bracket or not members.endswith("]"):
        return None
    found: set[int] = set()
    for sequence in sequences.split("|"):
        if not re.fullmatch(rf"(?:{_CODE_POINT}){{2,}}", sequence):
            return None
        found.add(int(re.findall(_CODE_POINT, sequence)[1], 16))
    members = members[:-1]
    if not re.fullmatch(rf"(?:{_CODE_POINT}(?:-{_CODE_POINT})?)+", members):
        return None
    for low, high in re.findall(rf"{_CODE_POINT}(?:-{_CODE_POINT})?", members):
        found.update(range(int(low, 16), int(high or low, 16) + 1))
    return frozenset(found)


def domain_endings(*patterns: str) -> list[str] | None:
    """The top-level domains of twitter-text's ``(?:(?:tld|tld|...)(?=...))`` patterns; None when a
    pattern has another shape or a domain that is not plain text starting with a letter."""
    found: list[str] = []
    for pattern in patterns:
        if not (pattern.startswith("(?:(?:") and pattern.endswith(")(?=[^0-9a-zA-Z@+-]|$))")):
            return None
        names = pattern[len("(?:(?:") : -len(")(?=[^0-9a-zA-Z@+-]|$))")].split("|")
        if not all(name and name[0].isalpha() and re.escape(name) == name for name in names):
            return None
        found += names
    return found


def _possible_emoji(code_points: frozenset[int]) -> re.Pattern[str]:
    """A regex class of ``code_points`` and of every character beyond the BMP (most emoji are there): in
    ranges, one of them above U+FFFF, the class scans ~10× faster than the exact set (~2 µs a post)."""
    spans: list[list[int]] = []
    for c in sorted(c for c in code_points if c <= 0xFFFF):
        if spans and spans[-1][1] == c - 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    spans.append([0x10000, 0x10FFFF])
    return re.compile("[" + "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in spans) + "]")


_EMOJI_PART = emoji_characters(EMOJI.pattern) if not EMOJI.flags & re.IGNORECASE else None
#: None: the emoji regex runs on every text
MAY_HOLD_EMOJI = _possible_emoji(_EMOJI_PART) if _EMOJI_PART else None
# After the dot: no top-level domain starts with a space, a digit or ASCII punctuation (``domain_endings``
# checked the first letters; punycode starts with "xn--"), and none of those characters has a case variant,
# so IGNORECASE matches them only as themselves.
NOT_A_TLD_START = r"(?![\s\d!-/:-@\[-`{-~]|\Z)"
#: None: twitter-text's URL extractor runs on every text with a dot
MAY_HOLD_URL = (
    re.compile(
        rf"{valid_domain_chars.pattern}\.{NOT_A_TLD_START}"
        rf"(?:{valid_gtld.pattern}|{valid_cctld.pattern}|{valid_punycode.pattern})",
        re.IGNORECASE,
    )
    if domain_endings(valid_gtld.pattern, valid_cctld.pattern)
    and valid_punycode.pattern.startswith("(?:xn--")
    else None
)


def _weights(options: dict[str, Any]) -> tuple[int, re.Pattern[str]] | None:
    """(the weight of the configured ranges, a regex of the characters outside them); None when the ranges
    do not share one weight (then ``parse_tweet`` counts)."""
    ranges = options["ranges"]
    if len({r["weight"] for r in ranges}) != 1:
        return None
    spans = "".join(f"\\U{r['start']:08x}-\\U{r['end']:08x}" for r in ranges)
    return ranges[0]["weight"], re.compile(f"[^{spans}]")


_WEIGHTS = _weights(OPTIONS)


def weighted_length(text: str) -> int:
    """``parse_tweet(text).weightedLength``, computed the same way (see the module's docstring)."""
    if _WEIGHTS is None:
        return int(parse_tweet(text).weightedLength)
    ranged, outside = _WEIGHTS
    scale: int = OPTIONS["scale"]
    heavy: int = OPTIONS["default_weight"]
    # parse_tweet's normalisation: NFC, then every line ending as "\n"
    normalized = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    urls: dict[int, str] = {}
    if MAY_HOLD_URL is None or MAY_HOLD_URL.search(normalized):
        urls = {u["indices"][0]: u["url"] for u in extract_urls_with_indices(normalized)}
    emojis: dict[int, str] = {}
    if OPTIONS.get("emoji_parsing_enabled") and (MAY_HOLD_EMOJI is None or MAY_HOLD_EMOJI.search(normalized)):
        emojis = {m.start(): m.group(0) for m in EMOJI.finditer(normalized)}

    def plain(start: int, end: int) -> int:
        part = normalized[start:end]
        return len(part) * ranged + len(outside.findall(part)) * (heavy - ranged)

    # parse_tweet's walk: a URL counts transformed_url_length, an emoji default_weight, and the walk goes on
    # after it; an entity starting inside one already counted is never reached.
    total, at = 0, 0
    for start in sorted(urls.keys() | emojis.keys()):
        if start < at:
            continue
        total += plain(at, start)
        if start in urls:
            total += OPTIONS["transformed_url_length"] * scale
            at = start + len(urls[start])
        else:
            total += heavy
            at = start + len(emojis[start])
    total += plain(at, len(normalized))
    return int(total / scale)
