"""Look-ups the composer makes for every rendered text, kept after the first use: same answers as before."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from publisher.adapters import profile_of
from publisher.adapters.telegram import escape_html
from publisher.adapters.x import PROFILE as X_PROFILE
from publisher.compose.directory import Directory, Entity
from publisher.errors import ConfigurationError


def _directory() -> Directory:
    entities = {
        "fitr": Entity("fitr", "ФИТР", MappingProxyType({"x": "FITR_bntu", "vk": "fitr"})),
        "bntu": Entity("bntu", "БНТУ", MappingProxyType({"x": "bntu"})),
        "twin": Entity(
            "twin", "Двойник & Ко", MappingProxyType({"x": "fitr_BNTU"})
        ),  # same X handle, any case
        "quiet": Entity("quiet", "ФИТР БНТУ"),
    }
    return Directory(entities=MappingProxyType(entities))


def test_entity_by_handle_is_case_blind_takes_the_first_and_keeps_answering() -> None:
    directory = _directory()
    for _ in range(2):
        assert directory.entity_by_handle("x", "@fitr_bntu") is directory.entities["fitr"]
        assert directory.entity_by_handle("x", "BNTU") is directory.entities["bntu"]
        assert directory.entity_by_handle("vk", "fitr") is directory.entities["fitr"]
        assert directory.entity_by_handle("vk", "bntu") is None
        assert directory.entity_by_handle("telegram", "fitr") is None
        # an empty handle finds the first entity without one, as the scan did
        assert directory.entity_by_handle("vk", "@") is directory.entities["bntu"]


def test_name_patterns_longest_first_escaped_per_network_and_kept() -> None:
    directory = _directory()
    plain = directory.name_patterns(X_PROFILE.escape)
    assert [e.key for e, _ in plain] == ["twin", "quiet", "fitr", "bntu"]
    assert directory.name_patterns(X_PROFILE.escape) is plain
    html = dict((e.key, p) for e, p in directory.name_patterns(escape_html))
    assert html["twin"].search("Двойник &amp; Ко") and not html["twin"].search("Двойник & Ко")
    patterns = dict((e.key, p) for e, p in plain)
    assert patterns["fitr"].search("студенты ФИТР.")
    assert not patterns["fitr"].search("#ФИТР") and not patterns["fitr"].search("ФИТРы")


def test_a_new_directory_does_not_share_the_tables() -> None:
    first, second = _directory(), Directory.empty()
    first.entity_by_handle("x", "bntu")
    assert second.entity_by_handle("x", "bntu") is None
    assert second.name_patterns(X_PROFILE.escape) == ()
    assert first == _directory()  # the kept tables take no part in equality


def test_profile_of_keeps_the_profile_and_still_refuses_an_unknown_network() -> None:
    assert profile_of("x") is X_PROFILE and profile_of("x") is X_PROFILE
    for _ in range(2):
        with pytest.raises(ConfigurationError, match="no adapter for network 'myspace'"):
            profile_of("myspace")
