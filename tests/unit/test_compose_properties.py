"""Properties of the composer over generated posts and directories (Hypothesis).

- the rendered length never exceeds the limit as the network itself counts it (or the post is refused);
- rendering is idempotent: the rendered text fed back as the body comes out unchanged, no doubled tags;
- every mentioned entity appears exactly once per network, as its handle or as its name;
- nothing of the editor's text is silently cut.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet

from publisher.adapters.telegram import escape_html as escape_telegram_html
from publisher.compose.composer import render
from publisher.compose.directory import Directory, Entity, NetworkPolicy, Rubric
from publisher.compose.notices import Kind
from publisher.errors import InputError
from publisher.models import NETWORKS, MediaItem, Post, Rendered

# Names carry «» so they can never appear by chance in generated text, nor inside one another.
KEYS = ("alpha", "beta", "gamma", "delta", "omega")
NAMES = {
    "alpha": "«Альфа»",
    "beta": "«Бета Гамма»",
    "gamma": "«Гамма»",
    "delta": "«Дельта & Ко»",
    "omega": "«Ω»",
}
TAG_POOL = ("Архив", "архив", "Books", "Наука2024", "КиноКлуб", "History_BNTU", "древняядичь")
RUBRICS = {"древняядичь": ("древняядичь",), "бюроизобретений": ("бюроизобретений", "Наука2024")}
# No "@", "#", "_", "«", "[" in free text: those arrive only as deliberate tokens below.
ALPHABET = "abcxyzАБВабвгдёжя0123456789 .,!?:;-()&<>\"'/😀中\n"
TOKENS = ("lib@bntu.by", "@2x", "@unknown", "https://library.bntu.by/news/1", "18:00 @ зал", "&amp;", "5 > 3")
IMAGE = MediaItem("a.jpg", Path("/data/a.jpg"), "0" * 64, "image/jpeg", 10)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def directories(draw: st.DrawFn) -> Directory:
    entities = {}
    for number, key in enumerate(KEYS):
        handles = {
            "vk": draw(st.sampled_from([None, f"club{number + 100}", f"id{number + 7}", f"{key}.vk"])),
            "x": draw(st.sampled_from([None, f"{key}_x"])),
            "telegram": draw(st.sampled_from([None, f"{key}_tg"])),
            "facebook": draw(st.sampled_from([None, f"10006441234{number}"])),
        }
        present = {net: h for net, h in handles.items() if h is not None}
        entities[key] = Entity(key, NAMES[key], MappingProxyType(present))
    networks = {}
    for network in NETWORKS:
        networks[network] = NetworkPolicy(
            hashtags=tuple(draw(st.lists(st.sampled_from(["Библиотека", "БНТУ", "books"]), max_size=2))),
            hashtag_placement=draw(st.sampled_from(["end", "inline"])),
            max_hashtags=draw(st.none() | st.integers(0, 5)),
            max_length=draw(st.none() | st.integers(20, 500)),
            community_hashtags=network == "vk" and draw(st.booleans()),
            screen_name="library_bntu",
            page_mentions=network == "facebook" and draw(st.booleans()),
        )
    rubrics = {key: Rubric(key, tags, owner="отдел") for key, tags in RUBRICS.items()}
    return Directory(
        hashtags=("НаучнаяБиблиотекаБНТУ",),
        entities=MappingProxyType(entities),
        rubrics=MappingProxyType(rubrics),
        networks=MappingProxyType(networks),
    )


@dataclass(frozen=True)
class Case:
    post: Post
    segments: tuple[str, ...]  # the free text pieces of the body, each of which must survive
    body_keys: tuple[str, ...]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    body_keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=3))
    segments = draw(st.lists(st.text(ALPHABET, max_size=60), max_size=5))
    tokens = draw(st.lists(st.sampled_from(TOKENS), max_size=3))
    body_tags = draw(st.lists(st.sampled_from(TAG_POOL), max_size=2, unique_by=str.casefold))
    parts = [*segments, *tokens, *(f"@{k}" for k in body_keys), *(f"#{t}" for t in body_tags)]
    order = draw(st.permutations(range(len(parts))))
    body = " ".join(parts[i] for i in order)
    overrides = draw(
        st.dictionaries(st.sampled_from(NETWORKS), st.text(ALPHABET, min_size=1, max_size=40), max_size=2)
    )
    post = Post(
        source_name="post.md",
        source_key="k",
        targets=NETWORKS,
        approved_by="редактор",
        body=body,
        rubric=draw(st.none() | st.sampled_from(sorted(RUBRICS))),
        hashtags=tuple(draw(st.lists(st.sampled_from(TAG_POOL), max_size=3))),
        mentions=tuple(draw(st.lists(st.sampled_from(KEYS), max_size=4))),
        media=(IMAGE,) * draw(st.integers(0, 2)),
        overrides=overrides,
    )
    return Case(post, tuple(s.strip() for s in segments if s.strip()), tuple(body_keys))


def network_length(network: str, text: str) -> int:
    """Counted independently of the composer, the way each network documents it."""
    if network == "x":
        return int(parse_tweet(text).weightedLength)
    visible = html.unescape(re.sub(r"<[^>]*>", "", text)) if network == "telegram" else text
    return len(visible.encode("utf-16-le")) // 2


def try_render(post: Post, network: str, directory: Directory) -> Rendered | None:
    try:
        return render(post, network, directory)
    except InputError as exc:
        assert exc.source == "post.md" and exc.field
        return None


def used_override(rendered: Rendered) -> bool:
    return any(w.kind is Kind.USED_OVERRIDE for w in rendered.warnings)


@SETTINGS
@given(directory=directories(), case=cases())
def test_rendered_length_never_exceeds_the_limit(directory: Directory, case: Case) -> None:
    for network in NETWORKS:
        rendered = try_render(case.post, network, directory)
        if rendered is None:
            continue
        assert rendered.length == network_length(network, rendered.text)
        assert rendered.length <= rendered.limit
        if network == "x":
            assert rendered.limit <= 280
        if network == "telegram":
            assert rendered.limit <= (1024 if case.post.media else 4096)


@SETTINGS
@given(directory=directories(), case=cases())
def test_nothing_the_editor_wrote_is_cut(directory: Directory, case: Case) -> None:
    for network in NETWORKS:
        rendered = try_render(case.post, network, directory)
        if rendered is None or used_override(rendered):
            continue
        escape = escape_telegram_html if network == "telegram" else str
        for segment in case.segments:
            assert escape(segment) in rendered.text


@SETTINGS
@given(directory=directories(), case=cases())
def test_rendering_is_idempotent(directory: Directory, case: Case) -> None:
    for network in NETWORKS:
        first = try_render(case.post, network, directory)
        if first is None or used_override(first):
            continue
        again = render(replace(case.post, body=first.text), network, directory)
        assert again.text == first.text
        assert again.hashtags == ()  # every tag was found in the text, none added again
        tags = [t.casefold() for t in re.findall(r"(?<![\w&/#])#(\w+)", first.text)]
        assert len(tags) == len(set(tags)), f"doubled hashtag in {first.text!r}"


def mention_form(entity: Entity, network: str, directory: Directory) -> str:
    handle = entity.handle(network)
    if handle is None or (network == "facebook" and not directory.policy(network).page_mentions):
        return escape_telegram_html(entity.name) if network == "telegram" else entity.name
    return {"vk": f"[{handle}|{entity.name}]", "facebook": f"@[{handle}]"}.get(network, f"@{handle}")


@SETTINGS
@given(directory=directories(), case=cases())
def test_every_mentioned_entity_appears_exactly_once(directory: Directory, case: Case) -> None:
    mentioned = set(case.post.mentions) | set(case.body_keys)
    for network in NETWORKS:
        rendered = try_render(case.post, network, directory)
        if rendered is None:
            continue
        for key, entity in directory.entities.items():
            form = mention_form(entity, network, directory)
            count = len(re.findall(re.escape(form) + r"(?!\w)", rendered.text))
            if network == "vk" and entity.handle("vk") is not None:
                assert rendered.text.count(entity.name) == count  # the name only inside its own link
            expected = 1 if key in mentioned else 0
            if used_override(rendered) and key in case.body_keys and key not in case.post.mentions:
                continue  # the override text is the editor's: it need not mention what the body did
            assert count == expected, f"{key} as {form!r} in {network}: {rendered.text!r}"
