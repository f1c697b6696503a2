"""Instagram's rules at acceptance, from its PROFILE: a picture or a video is required, at most 30 hashtags
(optional ones dropped first) and 20 mentions, links left out of the caption with a word to the editor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from publisher.compose.composer import render, render_all
from publisher.compose.directory import Directory, parse_directory
from publisher.errors import InputError, InputErrors
from publisher.i18n import language
from publisher.models import MediaInfo, MediaItem, Post

DIRECTORY = """
hashtags: [НаучнаяБиблиотекаБНТУ, БНТУ]
entities:
  fitr: {name: ФИТР БНТУ, vk: club12345, instagram: fitr.bntu}
  ef: {name: Энергетический факультет}
"""
PICTURE = MediaItem("poster.jpg", Path("/data/poster.jpg"), "0" * 64, "image/jpeg", 1024)


@pytest.fixture
def directory() -> Directory:
    return parse_directory(DIRECTORY, "directory.yaml")


def post(body: str = "Выставка редких книг.", **fields: Any) -> Post:
    values: dict[str, Any] = {
        "source_name": "vystavka.md",
        "source_key": "k",
        "targets": ("vk", "instagram"),
        "approved_by": "редактор дня",
        "body": body,
        "media": (PICTURE,),
    }
    return Post(**(values | fields))


def test_mentions_are_usernames_and_the_caption_keeps_the_library_tags(directory: Directory) -> None:
    r = render(post("Студенты @fitr и @ef в зале."), "instagram", directory)
    assert r.text == "Студенты @fitr.bntu и Энергетический факультет в зале.\n\n#НаучнаяБиблиотекаБНТУ #БНТУ"
    assert (r.limit == 2200 and r.link is None) or r.link == post().link
    again = render(post(r.text), "instagram", directory)  # a rendered caption fed back comes out the same
    assert again.text == r.text


def test_a_post_without_a_picture_is_refused_for_instagram_only_in_russian(directory: Directory) -> None:
    with language("ru"), pytest.raises(InputError) as caught:
        render_all(post(media=()), directory)
    (error,) = caught.value.errors if isinstance(caught.value, InputErrors) else [caught.value]
    assert (error.source, error.field) == ("vystavka.md", "media")
    assert "Instagram публикует только посты с картинкой или видео" in str(error)
    assert "добавьте картинку (media: [photo.jpg]) или уберите instagram из networks" in error.fix
    assert render(post(media=()), "vk", directory).text.startswith("Выставка")  # VK takes a text alone


def test_optional_hashtags_go_first_then_more_than_30_is_refused(directory: Directory) -> None:
    own = tuple(f"тег{i}" for i in range(29))
    r = render(post(hashtags=own), "instagram", directory)  # 29 own + 2 standard: the standard ones go
    assert len(r.hashtags) == 30 and "#БНТУ" not in r.hashtags and "#тег0" in r.hashtags
    assert any("at most 30" in str(w) for w in r.warnings)
    in_body = " ".join(f"#слово{i}" for i in range(31))
    with language("en"), pytest.raises(InputError) as caught:
        render(post(in_body), "instagram", directory)
    assert caught.value.field == "hashtags" and "31 hashtags" in str(caught.value)
    assert "remove 1 hashtag" in caught.value.fix


def test_more_than_20_mentions_is_refused(directory: Directory) -> None:
    body = " ".join(f"\\@reader{i}" for i in range(21))
    with language("en"), pytest.raises(InputError) as caught:
        render(post(body), "instagram", directory)
    assert caught.value.field == "mentions" and "21 mentions" in str(caught.value)
    assert render(post(" ".join(f"\\@reader{i}" for i in range(20))), "instagram", directory)


def test_the_link_stays_out_of_the_caption_and_the_editor_is_told(directory: Directory) -> None:
    link = "https://library.bntu.by/news/42"
    with language("en"):
        r = render(post(link=link), "instagram", directory)
        typed = render(post(f"Подробности: {link}"), "instagram", directory)
        said, typed_said = [str(w) for w in r.warnings], [str(w) for w in typed.warnings]
    assert link not in r.text
    assert any(link in w and "not clickable" in w for w in said)
    assert any("plain text" in w for w in typed_said)
    assert not any("clickable" in str(w) for w in render(post(link=link), "vk", directory).warnings)


def test_a_picture_instagram_would_refuse_is_refused_at_acceptance(directory: Directory) -> None:
    def picture(name: str, width: int, height: int, size: int = 1024) -> MediaItem:
        info = MediaInfo("image", "jpeg", width=width, height=height)
        return MediaItem(name, Path(f"/data/{name}"), "0" * 64, "image/jpeg", size, info=info)

    fine = (
        picture("square.jpg", 1080, 1080),
        picture("upright.jpg", 1080, 1350),
        picture("wide.jpg", 1910, 1000),
    )
    assert render(post(media=fine), "instagram", directory)
    with language("en"), pytest.raises(InputError) as caught:
        render(
            post(media=(picture("banner.jpg", 3000, 1000), picture("big.jpg", 1080, 1080, 9 * 2**20))),
            "instagram",
            directory,
        )
    errors = caught.value.errors if isinstance(caught.value, InputErrors) else [caught.value]
    said = [str(e) for e in errors]
    assert any("banner.jpg of 3000×1000" in s and "0.8 to 1.91" in s for s in said)
    assert any("big.jpg of 9.0 MB" in s and "up to 8 MB" in s for s in said)
    assert all(e.field == "media" for e in errors)
    assert render(post(media=(picture("banner.jpg", 3000, 1000),)), "vk", directory)  # VK takes it


@pytest.mark.parametrize(
    ("name", "mime", "said"),
    [("poster.png", "image/png", "PNG"), ("anim.gif", "image/gif", "GIF"), ("a.webp", "image/webp", "WebP")],
)
def test_a_picture_that_is_not_jpeg_is_refused_for_instagram_only_in_russian(
    directory: Directory, name: str, mime: str, said: str
) -> None:
    """Instagram takes JPEG pictures only (it would fetch the file and refuse it at 18:00, subcode 2207005);
    the editor hears it at acceptance, with the file, the field and the fix. Other networks take it."""
    picture = MediaItem(name, Path(f"/data/{name}"), "0" * 64, mime, 1024)
    targets = ("vk", "x", "facebook", "telegram", "instagram")
    with language("ru"), pytest.raises(InputError) as caught:
        render_all(post(media=(picture,), targets=targets), directory)
    (error,) = caught.value.errors if isinstance(caught.value, InputErrors) else [caught.value]
    assert (error.source, error.field) == ("vystavka.md", "media")
    assert f"картинка {name} в формате {said}, а Instagram принимает картинки только в формате JPEG" in str(
        error
    )
    assert error.fix == "переведите её в формат JPEG (сохраните как .jpg) или уберите instagram из networks"
    for target in targets[:-1]:
        assert render(post(media=(picture,), targets=targets), target, directory).media == (picture,)


def test_the_picture_format_is_read_from_the_content_and_a_carousel_names_each_wrong_one(
    directory: Directory,
) -> None:
    """The type sniffed from the bytes decides: a JPEG saved as .png goes, a PNG renamed .jpg does not."""
    jpeg_named_png = MediaItem("scan.png", Path("/data/scan.png"), "1" * 64, "image/jpeg", 1024)
    png_named_jpg = MediaItem("photo.jpg", Path("/data/photo.jpg"), "2" * 64, "image/png", 1024)
    gif = MediaItem("anim.gif", Path("/data/anim.gif"), "3" * 64, "image/gif", 1024)
    assert render(post(media=(PICTURE, jpeg_named_png)), "instagram", directory)
    with language("en"), pytest.raises(InputErrors) as caught:
        render(post(media=(PICTURE, png_named_jpg, gif)), "instagram", directory)
    said = [str(e) for e in caught.value.errors]
    assert said == [
        "vystavka.md: media has the picture photo.jpg in PNG; Instagram takes only JPEG pictures: "
        "convert it to JPEG (save it as .jpg) or remove instagram from networks",
        "vystavka.md: media has the picture anim.gif in GIF; Instagram takes only JPEG pictures: "
        "convert it to JPEG (save it as .jpg) or remove instagram from networks",
    ]
