"""The editorial directory: the example loads, and every mistake an editor can make names its field and line."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest

from publisher.compose.directory import (
    Directory,
    HashtagError,
    load_directory,
    normalize_hashtag,
    parse_directory,
)
from publisher.errors import InputError, InputErrors

REPO = Path(__file__).resolve().parents[2]


def load_text(tmp_path: Path, text: str) -> Directory:
    path = tmp_path / "directory.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_directory(path)


def problem(tmp_path: Path, text: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_text(tmp_path, text)
    return info.value


def test_example_directory_loads_with_the_librarys_rubrics_and_accounts() -> None:
    directory = load_directory(REPO / "directory.example.yaml")
    assert "НаучнаяБиблиотекаБНТУ" in directory.hashtags
    for rubric in ("древняядичь", "бюроизобретений", "чтотознакомое", "тынепохожанабиблиотекаря"):
        assert directory.has_rubric(rubric)
        assert directory.rubric(rubric) is not None
        assert directory.rubric(rubric).owner  # type: ignore[union-attr]
        assert directory.rubric(rubric).hashtags == (rubric,)  # type: ignore[union-attr]
    for key in ("fitr", "fmmp", "ef", "bntu", "brsm", "kinoklub"):
        assert directory.has_entity(key)
    fitr = directory.entities["fitr"]
    assert (fitr.name, fitr.handle("vk"), fitr.handle("x")) == ("ФИТР БНТУ", "club12345", "fitr_bntu")
    assert directory.entities["bntu"].handle("facebook") == "100064412345678"
    assert directory.policy("vk").community_hashtags and directory.policy("vk").screen_name == "library_bntu"
    assert directory.policy("facebook").page_mentions is False
    assert directory.standard_hashtags("telegram")[-1] == "библиотека"
    assert directory.source_name == "directory.example.yaml"


def test_no_file_means_an_empty_directory() -> None:
    directory = load_directory(None)
    assert directory == Directory.empty()
    assert not directory.has_entity("fitr") and not directory.has_rubric("древняядичь")
    assert directory.policy("vk").hashtag_placement == "end"


def test_an_empty_file_is_an_empty_directory(tmp_path: Path) -> None:
    directory = load_text(tmp_path, "# nothing yet\n")
    assert directory.entities == {} and directory.hashtags == ()


def test_lookups_ignore_case_and_a_leading_at() -> None:
    directory = parse_directory("entities:\n  fitr: {name: ФИТР}\nrubrics:\n  Древняядичь: {hashtags: [a]}\n")
    assert directory.has_entity("@FITR") and directory.has_entity("fitr")
    assert directory.has_rubric("древняяДИЧЬ")


def test_the_directory_is_immutable() -> None:
    directory = parse_directory("entities:\n  fitr: {name: ФИТР, x: fitr_bntu}\n")
    with pytest.raises(TypeError):
        directory.entities["ef"] = directory.entities["fitr"]  # type: ignore[index]
    with pytest.raises(TypeError):
        directory.entities["fitr"].handles["x"] = "other"  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        directory.hashtags = ("x",)  # type: ignore[misc]


def test_duplicate_key_is_reported_with_both_lines(tmp_path: Path) -> None:
    err = problem(
        tmp_path,
        """
        entities:
          fitr:
            name: ФИТР БНТУ
            vk: club12345
            vk: club54321
        """,
    )
    assert err.source == "directory.yaml"
    assert err.field == "entities.fitr.vk"
    assert "line 5" in str(err) and "first at line 4" in str(err)


def test_duplicate_entity_is_not_silently_replaced(tmp_path: Path) -> None:
    err = problem(tmp_path, "entities:\n  fitr: {name: A}\n  ef: {name: B}\n  fitr: {name: C}\n")
    assert err.field == "entities.fitr" and "line 4" in str(err)


def test_unknown_key_names_the_line_and_the_allowed_keys(tmp_path: Path) -> None:
    err = problem(
        tmp_path,
        """
        hashtags: [НаучнаяБиблиотекаБНТУ]
        entities:
          bntu:
            name: БНТУ
            twitter: bntu_by
        """,
    )
    assert err.field == "entities.bntu.twitter"
    assert "line 5" in str(err) and "is not a known key" in str(err)
    assert "x" in err.fix and "telegram" in err.fix


@pytest.mark.parametrize(
    ("network", "value"),
    [
        ("vk", "club 12345"),
        ("vk", "https://vk.com/fitr"),
        ("vk", "12345"),
        ("x", "this_handle_is_too_long"),
        ("x", "fitr-bntu"),
        ("telegram", "1fitr"),
        ("telegram", "abc"),
        ("facebook", "fitr.bntu"),
    ],
)
def test_malformed_handle_names_field_and_line(tmp_path: Path, network: str, value: str) -> None:
    err = problem(tmp_path, f'hashtags: []\nentities:\n  fitr:\n    name: ФИТР\n    {network}: "{value}"\n')
    assert err.field == f"entities.fitr.{network}"
    assert "line 5" in str(err) and value in str(err)
    assert err.fix  # tells the editor what to write instead


def test_handles_may_be_written_with_at_and_page_ids_as_numbers(tmp_path: Path) -> None:
    directory = load_text(
        tmp_path, "entities:\n  bntu: {name: БНТУ, x: '@bntu_by', facebook: 100064412345678}\n"
    )
    assert directory.entities["bntu"].handle("x") == "bntu_by"
    assert directory.entities["bntu"].handle("facebook") == "100064412345678"


@pytest.mark.parametrize("tag", ["2024", "'!!!'", "'#'", "''"])
def test_invalid_hashtag_is_rejected_with_its_line(tmp_path: Path, tag: str) -> None:
    err = problem(tmp_path, f"rubrics:\n  древняядичь:\n    hashtags: [древняядичь, {tag}]\n")
    assert err.field == "rubrics.древняядичь.hashtags[1]"
    assert "line 3" in str(err) and "not a hashtag" in str(err)


def test_a_hash_that_yaml_read_as_a_comment_gets_a_hint(tmp_path: Path) -> None:
    err = problem(tmp_path, "hashtags:\n  - НаучнаяБиблиотекаБНТУ\n  - #БНТУ\n")
    assert err.field == "hashtags[1]" and "line 3" in str(err) and "quote" in err.fix


def test_hashtags_are_normalised_when_loaded(tmp_path: Path) -> None:
    directory = load_text(tmp_path, "hashtags: ['#Научная библиотека БНТУ', научнаябиблиотекабнту, БНТУ]\n")
    assert directory.hashtags == ("НаучнаябиблиотекаБНТУ", "БНТУ")


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("#Научная библиотека-БНТУ", "НаучнаябиблиотекаБНТУ"),
        ("  ##древняядичь ", "древняядичь"),
        ("Ёлка_2024!", "Ёлка_2024"),
        ("CinemaClub.BNTU", "CinemaClubBNTU"),
    ],
)
def test_normalize_hashtag(raw: str, tag: str) -> None:
    assert normalize_hashtag(raw) == tag


@pytest.mark.parametrize("raw", ["", "#", " - ", "2024", "12_34"])
def test_normalize_hashtag_rejects_tags_without_letters(raw: str) -> None:
    with pytest.raises(HashtagError):
        normalize_hashtag(raw)


def test_python_tags_are_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    err = problem(
        tmp_path,
        f"entities:\n  fitr:\n    name: !!python/object/apply:os.system ['touch {marker}']\n",
    )
    assert err.field == "entities.fitr.name" and "line 3" in str(err)
    assert not marker.exists()


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    err = problem(tmp_path, "entities:\n  fitr:\n    name: [ФИТР\n    vk: club1\n")
    assert "not valid YAML" in str(err) and "line " in str(err)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    err = problem(
        tmp_path,
        """
        hashtags: [НаучнаяБиблиотекаБНТУ, '2024']
        entities:
          fitr:
            vk: club 1
          Bad-Key:
            name: Кто-то
        networks:
          vk:
            community_hashtags: true
          mastodon: {}
        """,
    )
    assert isinstance(err, InputErrors)
    fields = [e.field for e in err.errors]
    assert fields == [
        "hashtags[1]",
        "entities.fitr",  # no name
        "entities.fitr.vk",
        "entities.Bad-Key",
        "networks.vk.community_hashtags",  # needs screen_name
        "networks.mastodon",
    ]  # in the order of the file
    assert err.field == "hashtags[1]"
    assert "6 problems" in str(err) and "line 4" in str(err) and "line 10" in str(err)


def test_two_entities_may_not_share_a_handle_or_shadow_a_key(tmp_path: Path) -> None:
    err = problem(
        tmp_path,
        """
        entities:
          fitr: {name: ФИТР БНТУ, x: fitr_bntu}
          ef: {name: ЭФ БНТУ, x: FITR_bntu}
          bntu: {name: БНТУ, telegram: fitr_x, x: ef}
        """,
    )
    messages = str(err)
    assert "entities.ef.x" in messages and "also used by entity 'fitr'" in messages
    assert "entities.bntu.x" in messages and "@ef would be ambiguous" in messages and "line 4" in messages


def test_names_must_be_usable_in_vk_links(tmp_path: Path) -> None:
    err = problem(tmp_path, "entities:\n  fitr:\n    name: ФИТР [БНТУ]\n")
    assert err.field == "entities.fitr.name" and "line 3" in str(err)


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ("vk: {max_length: true}", "networks.vk.max_length"),
        ("vk: {max_length: 0}", "networks.vk.max_length"),
        ("x: {max_hashtags: -1}", "networks.x.max_hashtags"),
        ("x: {hashtag_placement: top}", "networks.x.hashtag_placement"),
        ("x: {community_hashtags: true}", "networks.x.community_hashtags"),
        ("facebook: {page_mentions: 'yes please'}", "networks.facebook.page_mentions"),
        ("vk: {screen_name: 'vk.com/library'}", "networks.vk.screen_name"),
    ],
)
def test_network_policy_is_validated(tmp_path: Path, policy: str, field: str) -> None:
    err = problem(tmp_path, f"networks:\n  {policy}\n")
    assert err.field == field and "line 2" in str(err)


def test_network_policy_values_are_read(tmp_path: Path) -> None:
    directory = load_text(
        tmp_path,
        """
        networks:
          vk: {max_length: 5000, community_hashtags: true, screen_name: library_bntu, hashtag_placement: inline}
          x: {max_hashtags: 2, hashtags: [БНТУ]}
        """,
    )
    vk = directory.policy("vk")
    assert (vk.max_length, vk.community_hashtags, vk.screen_name, vk.hashtag_placement) == (
        5000,
        True,
        "library_bntu",
        "inline",
    )
    assert directory.policy("x").max_hashtags == 2
    assert directory.standard_hashtags("x") == ("БНТУ",)
    assert directory.policy("telegram") == directory.policy("facebook")  # defaults


def test_unreadable_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_directory(tmp_path / "missing.yaml")
    assert info.value.source == "missing.yaml" and "PUBLISHER_DIRECTORY_FILE" in str(info.value)
