"""X's weighted length (``publisher.adapters.x_length``) equals twitter-text's ``parse_tweet`` on every text.

The module skips twitter-text's emoji and URL scans when a cheaper test proves they find nothing; these
tests compare the two counts over a varied corpus and generated texts, and check the facts the shortcuts
rest on against twitter-text's own tables.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet
from twitter_text.regexp.valid_cctld import valid_cctld
from twitter_text.regexp.valid_gtld import valid_gtld

from publisher.adapters import x_length
from publisher.adapters.x import PROFILE

CORPUS = [
    "",
    " ",
    "Hello, world",
    "Студенты посетили выставку редких книг в научной библиотеке, пост 12. Приходите в зал №2 [bench:tp.12]",
    "#БНТУ #библиотека @bntu_library",
    "Ё и ё, й и й (composed and decomposed: и + U+0306)",
    "e\u0301 a\u0308 \u0438\u0306 \u0301 combining marks alone",
    "日本語のテキスト 中文 한국어 조합",
    "mixed 日本 and Кириллица 123",
    # the weight ranges' edges: U+10FF / U+1100, U+2000..200D, 200E/200F, 2010..201F, 2020, 2032..2037, 2038
    "\u10ff\u1100 \u2000\u2005\u200a\u200b\u200c\u200d\u200e\u200f \u2010\u2014\u2019\u201c\u201f\u2020",
    "\u2030\u2031\u2032\u2035\u2037\u2038 \u2116 \u00a0 \u3000 \u2026 — «ёлки»",
    # emoji: single code points, presentation selectors, skin tones, ZWJ sequences, flags, keycaps, tags
    "😀 😷 ❤ ❤️ © ® ™ ‼ ⁉ ☀ ✈️ ⭐",
    "🙋🏽 👍🏻👍🏿 👨‍👩‍👧‍👦 👩🏽‍💻 🧑‍🤝‍🧑 🏳️‍🌈 🏴‍☠️",
    "🇧🇾🇷🇺🇺🇦 🇧 🇾 flag halves 🇦",
    "1️⃣ #️⃣ *️⃣ 1⃣ #⃣ keycaps 12 #tag *",
    "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f England",
    "\ufe0f\u200d\u20e3 orphans \U0001f3fb",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐛𝐨𝐥𝐝 \U00020000 non-BMP letters",
    # URLs: with and without a protocol, paths, queries, ports, t.co, IDN, Cyrillic TLDs, near misses
    "https://bntu.by/news/2026/12?id=5&lang=ru",
    "Read more: http://example.com, and https://t.co/abcdef123 or https://t.co/" + "a" * 45,
    "library.bntu.by/catalog and www.example.org:8080/path(with)parens.",
    "сайт библиотека.рф и портал.бел, мы.рус, xn--80a1acny.xn--90ais",
    "пост 12.Приходите, v1.2.3, 3.14, a.b, file.txt, e-mail: info@bntu.by, @bntu.by",
    "end with a dot.",
    "trailing domain example.com",
    "https://example.com/😀/путь and https://пример.рф",
    "😀https://example.com😀",
    "x.com/é https://x.com/ю https://ex-ample.co.uk/a_b",
    "$bntu.by #bntu.by ＠bntu.by bntu.by/#anchor",
    # line endings (counted after turning them into "\n") and characters twitter-text calls invalid
    "line one\r\nline two\rline three\n\n",
    "invalid \ufffe \ufeff \uffff here",
    "tab\tand\x00control\x1f",
]


@pytest.mark.parametrize("text", CORPUS)
def test_equals_twitter_text_on_the_corpus(text: str) -> None:
    assert x_length.weighted_length(text) == parse_tweet(text).weightedLength


def test_equals_twitter_text_on_long_and_joined_texts() -> None:
    joined = "\n\n".join(CORPUS)
    assert x_length.weighted_length(joined) == parse_tweet(joined).weightedLength
    long = CORPUS[3] * 20 + " https://bntu.by " + "😀" * 30
    assert x_length.weighted_length(long) == parse_tweet(long).weightedLength


def test_the_profile_measures_with_it() -> None:
    text = "Кино 🎬 https://bntu.by/kino 日本"
    assert PROFILE.measure(text) == parse_tweet(text).weightedLength == x_length.weighted_length(text)


# Pieces that make twitter-text's scans find something, mixed with plain text.
PIECES = [
    *"abzAZ09 .,:;!?-_/#@*()[]\"'&\n\r\t",
    *"абвгдёжйъяАБВЁЙ№«»—–…",
    *"日本語中文한국",
    *"\u0301\u0306\u0308\u200b\u200c\u200d\u200e\u2010\u2019\u2032\u2037\u2038\u2116\ufe0f\u20e3\ufeff",
    *"😀😷❤©®™‼☀✈⭐🙋👍🏻🏽🏿👨👩👧🧑💻🇧🇾🇷🇺🏳🌈🏴\U000e0067\U000e007f𝔘",
    "👨‍👩‍👧",
    "1️⃣",
    "https://",
    "http://",
    "www.",
    ".com",
    ".by",
    ".рф",
    ".xn--p1ai",
    "t.co/",
    "bntu",
    "example",
    "библиотека",
    ":8080",
    "?q=1",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60))
def test_equals_twitter_text_on_generated_texts(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert x_length.weighted_length(text) == parse_tweet(text).weightedLength


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_equals_twitter_text_on_any_text(text: str) -> None:
    assert x_length.weighted_length(text) == parse_tweet(text).weightedLength


# --- what the shortcuts rest on ----------------------------------------------------------------------


def test_the_shortcuts_are_on_with_the_installed_twitter_text() -> None:
    """If twitter-text changes the shape of its tables, the module falls back to the full scans; this
    says so (the counts stay right either way)."""
    assert x_length.MAY_HOLD_EMOJI is not None
    assert x_length.MAY_HOLD_URL is not None


def test_every_single_code_point_emoji_is_a_possible_emoji() -> None:
    """Beyond the BMP every character is in the class; within it, each one twitter-text's regex matches."""
    assert x_length.MAY_HOLD_EMOJI is not None
    missed = [
        hex(c)
        for c in range(0x10000)
        if x_length.EMOJI.match(chr(c)) and not x_length.MAY_HOLD_EMOJI.match(chr(c))
    ]
    assert missed == []
    assert x_length.MAY_HOLD_EMOJI.match("\U00010000") and x_length.MAY_HOLD_EMOJI.match("\U0010ffff")


def test_every_emoji_sequence_has_a_possible_emoji_second_code_point() -> None:
    assert x_length.MAY_HOLD_EMOJI is not None
    sequences = x_length.EMOJI.pattern.rpartition("|[")[0].split("|")
    assert len(sequences) > 1000
    for sequence in sequences:
        code_points = [chr(int(c, 16)) for c in re.findall(r"\\U([0-9a-fA-F]{8})", sequence)]
        assert len(code_points) >= 2
        assert x_length.EMOJI.match("".join(code_points)), sequence
        assert x_length.MAY_HOLD_EMOJI.match(code_points[1]), sequence


def test_no_top_level_domain_starts_where_the_url_test_stops_early() -> None:
    """After the dot, the URL test gives up at a space, a digit, ASCII punctuation or the end."""
    endings = x_length.domain_endings(valid_gtld.pattern, valid_cctld.pattern)
    assert endings is not None and len(endings) > 1000
    stop = re.compile(x_length.NOT_A_TLD_START, re.IGNORECASE)
    for ending in [*endings, "xn--p1ai"]:
        assert stop.match(ending), ending
    for early in (" ", "1", "٣", ",", "/", "[", "`", "{", "~", "\u3000"):
        assert not stop.match(early)
    assert not stop.match("")


def test_the_url_test_finds_every_url_twitter_text_extracts() -> None:
    from twitter_text.extract_urls import extract_urls_with_indices

    assert x_length.MAY_HOLD_URL is not None
    for text in CORPUS:
        if extract_urls_with_indices(text):
            assert x_length.MAY_HOLD_URL.search(text), text
    assert not x_length.MAY_HOLD_URL.search(CORPUS[3])  # the benchmark's text: the shortcut applies


def test_shapes_it_does_not_know_turn_the_shortcuts_off() -> None:
    assert x_length.emoji_characters(r"[\U0001f600-\U0001f64f]") is None
    assert x_length.emoji_characters(r"\U0001f600|[\U0001f600]") is None  # a one-code-point "sequence"
    assert x_length.emoji_characters(r"\U0001f468\U0000200d|[a-z]") is None
    assert x_length.emoji_characters(r"\U0001f468\U0000200d|[\U0001f600]") == frozenset({0x200D, 0x1F600})
    assert x_length.domain_endings("(?:(?:com|org)(?=[^0-9a-zA-Z@+-]|$))") == ["com", "org"]
    assert x_length.domain_endings("(?:(?:com|1und1)(?=[^0-9a-zA-Z@+-]|$))") is None
    assert x_length.domain_endings("(?:com|org)") is None
