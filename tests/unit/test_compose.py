"""The composer writes one post correctly for every network: mentions, hashtags, limits and fallbacks."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from twitter_text import parse_tweet

from publisher.compose.composer import measure, render, render_all
from publisher.compose.directory import Directory, load_directory, parse_directory
from publisher.compose.notices import Kind, missing_keys
from publisher.errors import InputError, InputErrors
from publisher.models import NETWORKS, MediaItem, Post, Rendered

DIRECTORY_YAML = """
hashtags: [НаучнаяБиблиотекаБНТУ]
rubrics:
  древняядичь:
    hashtags: [древняядичь]
    owner: отдел редких книг
entities:
  fitr: {name: ФИТР БНТУ, vk: club12345, x: fitr_bntu, telegram: fitr_bntu}
  bntu: {name: БНТУ, vk: bntu_official, x: bntu_by, facebook: "100064412345678"}
  brsm: {name: БРСМ БНТУ, vk: id777, telegram: brsm_bntu}
  ef: {name: Энергетический факультет}
networks:
  vk: {community_hashtags: true, screen_name: library_bntu}
"""


def said(r: Rendered) -> tuple[str, ...]:
    """The warnings as an editor reads them (English in the suite)."""
    return tuple(str(w) for w in r.warnings)


@pytest.fixture
def directory() -> Directory:
    return parse_directory(DIRECTORY_YAML, "directory.yaml")


def image(name: str = "poster.jpg") -> MediaItem:
    return MediaItem(name, Path("/data/media") / name, "0" * 64, "image/jpeg", 1024)


def make_post(body: str = "Текст поста.", **fields: Any) -> Post:
    values: dict[str, Any] = {
        "source_name": "post.md",
        "source_key": "k1",
        "targets": ("vk", "x", "facebook", "telegram"),
        "approved_by": "редактор дня",
        "body": body,
    }
    values.update(fields)
    return Post(**values)


def with_policy(directory: Directory, network: str, **policy: Any) -> Directory:
    networks = dict(directory.networks)
    networks[network] = dataclasses.replace(directory.policy(network), **policy)
    return dataclasses.replace(directory, networks=networks)


# --- the example: rubric, two @ mentions, a mentions: list and an image, on all four networks ---

EXAMPLE = make_post(
    "Студенты @fitr и @ef посетили выставку редких книг & гравюр.",
    rubric="древняядичь",
    hashtags=("#Cinema Club",),
    mentions=("bntu", "fitr", "brsm"),
    media=(image(),),
)


def test_example_on_vk(directory: Directory) -> None:
    r = render(EXAMPLE, "vk", directory)
    assert r.text == (
        "Студенты [club12345|ФИТР БНТУ] и Энергетический факультет посетили выставку редких книг & гравюр.\n\n"
        "[bntu_official|БНТУ], [id777|БРСМ БНТУ]\n\n"
        "#CinemaClub #древняядичь@library_bntu #НаучнаяБиблиотекаБНТУ"
    )
    assert r.mentions == (
        "[club12345|ФИТР БНТУ]",
        "Энергетический факультет",
        "[bntu_official|БНТУ]",
        "[id777|БРСМ БНТУ]",
    )
    assert r.hashtags == ("#CinemaClub", "#древняядичь@library_bntu", "#НаучнаяБиблиотекаБНТУ")
    assert said(r) == (
        "ef has no VK account in the directory: written as its name «Энергетический факультет»",
    )
    assert (r.length, r.limit, r.media, r.parse_mode) == (len(r.text), 16384, EXAMPLE.media, None)


def test_example_on_x(directory: Directory) -> None:
    r = render(EXAMPLE, "x", directory)
    assert r.text == (
        "Студенты @fitr_bntu и Энергетический факультет посетили выставку редких книг & гравюр.\n\n"
        "@bntu_by, БРСМ БНТУ\n\n"
        "#CinemaClub #древняядичь #НаучнаяБиблиотекаБНТУ"
    )
    assert set(said(r)) == {
        "ef has no X account in the directory: written as its name «Энергетический факультет»",
        "brsm has no X account in the directory: written as its name «БРСМ БНТУ»",
    }
    assert (r.length, r.limit) == (parse_tweet(r.text).weightedLength, 280)


def test_example_on_facebook(directory: Directory) -> None:
    r = render(EXAMPLE, "facebook", directory)
    assert r.text == (
        "Студенты ФИТР БНТУ и Энергетический факультет посетили выставку редких книг & гравюр.\n\n"
        "БНТУ, БРСМ БНТУ\n\n"
        "#CinemaClub #древняядичь #НаучнаяБиблиотекаБНТУ"
    )
    assert said(r) == ()  # plain names are Facebook's normal form while page mentions are off
    assert r.limit == 63206


def test_example_on_telegram_is_html_escaped_and_counted_as_displayed(directory: Directory) -> None:
    r = render(EXAMPLE, "telegram", directory)
    assert r.text == (
        "Студенты @fitr_bntu и Энергетический факультет посетили выставку редких книг &amp; гравюр.\n\n"
        "БНТУ, @brsm_bntu\n\n"
        "#CinemaClub #древняядичь #НаучнаяБиблиотекаБНТУ"
    )
    assert r.parse_mode == "HTML"
    assert r.limit == 1024  # a caption: the post has an image
    assert r.length == len(r.text) - len("amp;")


def test_render_all_gives_one_rendering_per_target(directory: Directory) -> None:
    post = dataclasses.replace(EXAMPLE, targets=("vk", "x", "facebook", "telegram", "vk:partners"))
    rendered = render_all(post, directory)
    assert [r.target for r in rendered] == ["vk", "x", "facebook", "telegram", "vk:partners"]
    assert rendered[-1].text == rendered[0].text and rendered[-1].network == "vk"


# --- mentions ---


def test_facebook_page_mentions_when_switched_on(directory: Directory) -> None:
    directory = with_policy(directory, "facebook", page_mentions=True)
    r = render(make_post("Поздравляем @bntu и @fitr!"), "facebook", directory)
    assert r.text == "Поздравляем @[100064412345678] и ФИТР БНТУ!\n\n#НаучнаяБиблиотекаБНТУ"
    assert said(r) == ("fitr has no Facebook account in the directory: written as its name «ФИТР БНТУ»",)


def test_mentions_list_does_not_repeat_an_entity_the_body_mentions(directory: Directory) -> None:
    post = make_post("Встреча с [club12345|ФИТР БНТУ] и @bntu.", mentions=("fitr", "bntu"))
    r = render(post, "vk", directory)
    assert r.text.count("[club12345|") == 1 and r.text.count("[bntu_official|") == 1
    assert "\n\n[" not in r.text  # no closing line was needed


def test_a_name_inside_a_longer_name_is_not_a_mention(directory: Directory) -> None:
    """Facebook writes names; "БНТУ" inside "ФИТР БНТУ" does not count as mentioning the university."""
    r = render(make_post("Новости ФИТР БНТУ.", mentions=("bntu", "fitr")), "facebook", directory)
    assert r.text == "Новости ФИТР БНТУ.\n\nБНТУ\n\n#НаучнаяБиблиотекаБНТУ"


def test_a_hashtag_is_not_a_mention_by_name(directory: Directory) -> None:
    r = render(make_post("Мы — #БНТУ", mentions=("bntu",)), "facebook", directory)
    assert r.text.startswith("Мы — #БНТУ\n\nБНТУ")


@pytest.mark.parametrize(
    "body",
    ["Пишите на library@bntu.by", "Иконки @2x и @3x", "Начало в 18:00 @ актовый зал", "Сайт @bntu.by"],
)
def test_email_addresses_and_at_numbers_are_not_mentions(directory: Directory, body: str) -> None:
    picture = (MediaItem("a.jpg", Path("/data/a.jpg"), "0" * 64, "image/jpeg", 10),)
    for network in NETWORKS:
        r = render(make_post(body, media=picture), network, directory)
        assert r.text.startswith(body.replace("&", "&amp;")) and said(r) == () and r.mentions == ()


def test_an_at_word_missing_from_the_directory_is_a_warning_that_blocks_publishing(
    directory: Directory,
) -> None:
    """Acceptance refuses unknown @words, so one at publishing time is a key removed while the post waited."""
    r = render(make_post("Спасибо @kinoklub и @FITR."), "x", directory)
    assert r.text.startswith("Спасибо @kinoklub и @fitr_bntu.")
    (warning,) = r.warnings
    assert (warning.kind, warning.param("key"), warning.blocks_publishing) == (
        Kind.MISSING_KEY,
        "kinoklub",
        True,
    )
    assert missing_keys(r.warnings) == ["kinoklub"]
    assert (
        str(warning)
        == "@kinoklub is not in the directory: not published, so that it does not appear as written"
    )


def test_missing_keys_in_mentions_and_in_own_words_block_publishing_too(directory: Directory) -> None:
    r = render(
        make_post("Приглашаем [студентов клуба](@kinoklub)", mentions=("fitr", "gone")), "vk", directory
    )
    assert r.text.startswith("Приглашаем студентов клуба")  # the words alone; "gone" is not written at all
    assert missing_keys(r.warnings) == ["gone", "kinoklub"]


def test_harmless_warnings_do_not_block_publishing(directory: Directory) -> None:
    """A plain name where there is no account, or another network's handle, is published with a warning."""
    r = render(make_post("Спасибо @ef и @fitr_bntu"), "vk", directory)
    assert [w.kind for w in r.warnings] == [Kind.NO_ACCOUNT, Kind.FOREIGN_HANDLE]
    assert not any(w.blocks_publishing for w in r.warnings) and missing_keys(r.warnings) == []


# --- hashtags ---


def test_hashtag_order_and_case_insensitive_deduplication(directory: Directory) -> None:
    post = make_post(
        "Текст с #научнаябиблиотекабнту внутри.",
        rubric="древняядичь",
        hashtags=("Древняя дичь", "Архив", "#архив"),
    )
    r = render(post, "x", directory)
    assert r.text == "Текст с #научнаябиблиотекабнту внутри.\n\n#Древняядичь #Архив"
    assert r.hashtags == ("#Древняядичь", "#Архив")


def test_invalid_own_hashtag_is_an_input_error(directory: Directory) -> None:
    with pytest.raises(InputError) as info:
        render(make_post(hashtags=("ok", "2024")), "x", directory)
    assert info.value.field == "hashtags[1]" and "letter" in str(info.value)


def test_unknown_rubric_is_an_input_error(directory: Directory) -> None:
    with pytest.raises(InputError) as info:
        render(make_post(rubric="новаярубрика"), "vk", directory)
    assert info.value.field == "rubric" and "древняядичь" in info.value.fix


def test_inline_placement(directory: Directory) -> None:
    directory = with_policy(directory, "telegram", hashtag_placement="inline")
    r = render(make_post("Первый абзац.\n\nВторой абзац."), "telegram", directory)
    assert r.text == "Первый абзац.\n\nВторой абзац. #НаучнаяБиблиотекаБНТУ"


def test_max_hashtags_drops_standard_then_own_never_the_rubric(directory: Directory) -> None:
    directory = with_policy(directory, "x", max_hashtags=2, hashtags=("БНТУ",))
    post = make_post("Текст.", rubric="древняядичь", hashtags=("первый", "второй"))
    r = render(post, "x", directory)
    assert r.hashtags == ("#первый", "#древняядичь")
    assert len([w for w in said(r) if w.startswith("dropped optional hashtag")]) == 3


def test_body_without_text_gets_only_hashtags(directory: Directory) -> None:
    r = render(make_post("", media=(image(),)), "telegram", directory)
    assert r.text == "#НаучнаяБиблиотекаБНТУ"


# --- limits ---


def test_x_counts_links_as_23_and_emoji_and_cjk_as_2() -> None:
    assert measure("x", "a https://example.com/" + "x" * 100, has_media=False) == (2 + 23, 280)
    assert measure("x", "😀中", has_media=False) == (4, 280)
    assert measure("x", "я" * 280, has_media=True) == (280, 280)


def test_telegram_counts_utf16_units_of_the_visible_text() -> None:
    assert measure("telegram", "😀", has_media=False) == (2, 4096)
    assert measure("telegram", "&amp;&lt;<b>x</b>", has_media=True) == (3, 1024)


def test_vk_limit_comes_from_the_directory(directory: Directory) -> None:
    assert measure("vk", "x", has_media=False) == (1, 16384)
    assert (
        measure("vk", "x", has_media=False, directory=with_policy(directory, "vk", max_length=300))[1] == 300
    )
    # other networks' limits can only be lowered
    assert (
        measure("x", "x", has_media=False, directory=with_policy(directory, "x", max_length=1000))[1] == 280
    )


def test_telegram_entities_count_once_so_escaped_text_fits(directory: Directory) -> None:
    r = render(make_post("&" * 990, media=(image(),)), "telegram", directory)
    assert r.length <= 1024 < len(r.text)


def test_telegram_caption_is_shorter_than_a_message(directory: Directory) -> None:
    body = "😀" * 600  # 1200 UTF-16 units
    assert render(make_post(body), "telegram", directory).limit == 4096
    with pytest.raises(InputError) as info:
        render(make_post(body, media=(image(),)), "telegram", directory)
    assert "1200" in str(info.value) and "1024" in str(info.value) and "telegram" in str(info.value)


def test_too_long_drops_optional_hashtags_first(directory: Directory) -> None:
    directory = with_policy(directory, "x", hashtags=("БНТУ",))
    post = make_post("я" * 240, rubric="древняядичь", hashtags=("Архив",))
    r = render(post, "x", directory)
    # 240 + 2 + "#Архив" 6 + 1 + "#древняядичь" 12 = 261; adding the standard tags would pass 280
    assert r.text == "я" * 240 + "\n\n#Архив #древняядичь"
    assert said(r) == (
        "dropped optional hashtag #БНТУ to fit the X limit",
        "dropped optional hashtag #НаучнаяБиблиотекаБНТУ to fit the X limit",
    )
    post = dataclasses.replace(post, body="я" * 262)
    assert render(post, "x", directory).text == "я" * 262 + "\n\n#древняядичь"  # the rubric's tag stays


def test_override_is_used_when_still_too_long(directory: Directory) -> None:
    post = make_post(
        "я" * 300,
        rubric="древняядичь",
        hashtags=("Архив",),
        mentions=("bntu",),
        overrides={"x": "Коротко: @fitr"},
    )
    r = render(post, "x", directory)
    assert r.text == "Коротко: @fitr_bntu\n\n@bntu_by\n\n#древняядичь"
    assert said(r) == (
        "used overrides.x: the full text is 324 weighted characters (links 23, emoji and CJK 2) of 280",
    )
    # other networks keep the full text
    assert render(post, "vk", directory).text.startswith("я" * 300)


def test_target_override_wins_over_network_override(directory: Directory) -> None:
    post = make_post("я" * 300, overrides={"x": "общий", "x:partners": "для партнёров"})
    assert render(post, "x:partners", directory).text.startswith("для партнёров")
    assert render(post, "x", directory).text.startswith("общий")


def test_too_long_without_override_names_network_length_limit_and_fix(directory: Directory) -> None:
    with pytest.raises(InputError) as info:
        render(make_post("я" * 300, rubric="древняядичь"), "x", directory)
    err = info.value
    assert err.field == "body"
    assert "x" in err.problem and "314" in err.problem and "280" in err.problem  # 300 + 2 + #древняядичь
    assert "overrides.x" in err.fix and "34" in err.fix


def test_too_long_override_is_an_error_too(directory: Directory) -> None:
    with pytest.raises(InputError) as info:
        render(make_post("я" * 300, overrides={"x": "ю" * 290}), "x", directory)
    assert info.value.field == "overrides.x" and "290" in str(info.value)


def test_more_images_than_the_network_takes(directory: Directory) -> None:
    post = make_post(media=tuple(image(f"{i}.jpg") for i in range(5)))
    assert len(render(post, "vk", directory).media) == 5
    with pytest.raises(InputError) as info:
        render(post, "x", directory)
    assert info.value.field == "media" and "5" in str(info.value) and "4" in str(info.value)


def test_link_is_written_into_the_text_only_where_there_is_no_link_field(directory: Directory) -> None:
    link = "https://library.bntu.by/news/" + "a" * 80
    post = make_post("Новость.", link=link)
    x = render(post, "x", directory)
    assert x.text == f"Новость.\n\n{link}\n\n#НаучнаяБиблиотекаБНТУ" and x.link == link
    assert x.length == 8 + 2 + 23 + 2 + 22
    vk = render(post, "vk", directory)
    assert link not in vk.text and vk.link == link


def test_render_all_reports_every_problem_at_once(directory: Directory) -> None:
    post = make_post(
        "я" * 1100,
        rubric="нет такой",
        media=tuple(image(f"{i}.jpg") for i in range(5)),
        targets=("vk", "x", "telegram", "mastodon"),
    )
    with pytest.raises(InputErrors) as info:
        render_all(post, directory)
    fields = [e.field for e in info.value.errors]
    # the rubric once (not once per target); X: images and length; Telegram: length; the unknown network
    assert fields == ["rubric", "media", "body", "body", "targets"]
    message = str(info.value)
    assert "5 problems" in message and "too long for x" in message and "too long for telegram" in message


def test_rendering_twice_changes_nothing(directory: Directory) -> None:
    for target in ("vk", "x", "facebook", "telegram"):
        first = render(EXAMPLE, target, directory)
        again = render(dataclasses.replace(EXAMPLE, body=first.text), target, directory)
        assert again.text == first.text


def test_example_directory_file_renders_the_example_post() -> None:
    directory = load_directory(Path(__file__).resolve().parents[2] / "directory.example.yaml")
    rendered = render_all(EXAMPLE, directory)
    assert all(r.length <= r.limit for r in rendered)
    assert "#древняядичь@library_bntu" in rendered[0].text


def test_a_video_within_the_limits_is_written_for_every_network() -> None:
    """Every network publishes video now; the limits themselves are tested in test_media_rules.py."""
    from pathlib import Path

    from publisher.compose.composer import render
    from publisher.compose.directory import Directory
    from publisher.models import MediaInfo, MediaItem, Post

    info = MediaInfo("video", "mp4", 30.0, 1280, 720)
    clip = MediaItem(
        "interview.mp4", Path("/nonexistent/interview.mp4"), "0" * 64, "video/mp4", 1000, info=info
    )
    post = Post("video.md", "v" * 64, ("vk", "x", "facebook", "telegram"), "ed", "Интервью", media=(clip,))
    for target in post.targets:
        assert render(post, target, Directory.empty()).media == (clip,)
