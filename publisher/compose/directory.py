"""The editorial directory: who can be mentioned, which rubrics exist, the library's standard hashtags.

Loaded once from YAML (``PUBLISHER_DIRECTORY_FILE``; see ``directory.example.yaml``) and validated strictly:
a typo here would put a wrong mention in front of every reader. Every problem names the file, the dotted
field and the line, so an editor can fix it without a developer. Only plain YAML is read (no custom tags),
and duplicate keys are an error, not "the last one wins" as PyYAML would silently do.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import yaml

from publisher.errors import InputError, combine_errors
from publisher.plan.cadence import Cadence

Placement = Literal["end", "inline"]

ENTITY_KEY = re.compile(r"[a-z][a-z0-9_]*")


class HashtagError(ValueError):
    """A tag that cannot be written as a hashtag on any network."""


def normalize_hashtag(raw: str) -> str:
    """``"#Научная библиотека-БНТУ"`` -> ``"НаучнаябиблиотекаБНТУ"``.

    Spaces and punctuation would end the tag early on every network, so they are removed; letters of any
    script (Cyrillic included), digits and ``_`` are kept. A tag needs at least one letter: networks do not
    link ``#2024``. Raises ``HashtagError`` with a message an editor can act on.
    """
    text = unicodedata.normalize("NFC", str(raw)).strip().lstrip("#")
    tag = re.sub(r"[^\w]", "", text)
    if not tag:
        raise HashtagError(f"{raw!r} is not a hashtag: nothing is left after removing spaces and punctuation")
    if not any(ch.isalpha() for ch in tag):
        raise HashtagError(f"{raw!r} is not a hashtag: it needs at least one letter, not only digits")
    return tag


@dataclass(frozen=True)
class Entity:
    """Something a post can mention: a faculty, the university, a partner community, a person."""

    key: str
    name: str
    handles: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    note: str = ""

    def handle(self, network: str) -> str | None:
        return self.handles.get(network)


@dataclass(frozen=True)
class Rubric:
    """An authored series with its own hashtags and the person (or department) who owns it.

    The content plan reads the rest: ``cadence`` (when it is due; None = no expectation), ``slots`` (preferred
    local times), ``networks`` (its usual targets), ``paused`` (on a break: no empty slots, no reminders),
    ``owner_telegram`` (the owner's Telegram username, for reminders) and ``remind_days`` (how far ahead an
    empty slot is reminded; None = the setting).
    """

    key: str
    hashtags: tuple[str, ...]
    owner: str = ""
    description: str = ""
    cadence: Cadence | None = None
    slots: tuple[time, ...] = ()
    networks: tuple[str, ...] = ()
    paused: bool = False
    owner_telegram: str | None = None
    remind_days: int | None = None

    @property
    def owner_mention(self) -> str:
        """``@username`` when the owner has one, else the owner's name (or ``""``)."""
        return f"@{self.owner_telegram}" if self.owner_telegram else self.owner


@dataclass(frozen=True)
class NetworkPolicy:
    """How one network wants its hashtags and mentions; the defaults suit every network.

    ``community_hashtags`` (VK only) writes rubric tags as ``#tag@screen_name`` so readers can browse the
    rubric inside the community. ``page_mentions`` (Facebook only) writes ``@[page-id]`` tags, which need
    Meta's Page Mentioning feature, hence off by default. ``max_length`` replaces VK's default limit and may
    lower the others'.
    """

    hashtags: tuple[str, ...] = ()
    hashtag_placement: Placement = "end"
    max_hashtags: int | None = None
    max_length: int | None = None
    community_hashtags: bool = False
    screen_name: str | None = None
    page_mentions: bool = False


_DEFAULT_POLICY = NetworkPolicy()


@dataclass(frozen=True)
class Directory:
    """The loaded, validated directory. Immutable; entity keys are lower case."""

    hashtags: tuple[str, ...] = ()
    entities: Mapping[str, Entity] = field(default_factory=lambda: MappingProxyType({}))
    rubrics: Mapping[str, Rubric] = field(default_factory=lambda: MappingProxyType({}))
    networks: Mapping[str, NetworkPolicy] = field(default_factory=lambda: MappingProxyType({}))
    source_name: str = "directory"
    # Look-up tables derived on first use and kept (the directory is immutable).
    _handle_tables: dict[str, dict[str, Entity]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _name_patterns: dict[Callable[[str], str], tuple[tuple[Entity, re.Pattern[str]], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def empty(cls) -> Directory:
        return cls()

    def has_entity(self, key: str) -> bool:
        return self.entity(key) is not None

    def entity(self, key: str) -> Entity | None:
        return self.entities.get(key.lstrip("@").lower())

    def has_rubric(self, key: str) -> bool:
        return self.rubric(key) is not None

    def rubric(self, key: str) -> Rubric | None:
        wanted = key.strip().lstrip("#").casefold()
        return next((r for k, r in self.rubrics.items() if k.casefold() == wanted), None)

    def policy(self, network: str) -> NetworkPolicy:
        return self.networks.get(network, _DEFAULT_POLICY)

    def standard_hashtags(self, network: str) -> tuple[str, ...]:
        """The library's tags for every post, then this network's own."""
        return self.hashtags + self.policy(network).hashtags

    def entity_by_handle(self, network: str, handle: str) -> Entity | None:
        """The first entity (in the directory's order) with this handle on ``network``, any case."""
        return self._handles(network).get(handle.lstrip("@").casefold())

    def _handles(self, network: str) -> dict[str, Entity]:
        """Casefolded handle on ``network`` -> the first entity with it (no handle: ``""``)."""
        found = self._handle_tables.get(network)
        if found is None:
            found = {}
            for entity in self.entities.values():
                found.setdefault((entity.handle(network) or "").casefold(), entity)
            self._handle_tables[network] = found
        return found

    def name_patterns(self, escape: Callable[[str], str]) -> tuple[tuple[Entity, re.Pattern[str]], ...]:
        """Every entity with a pattern that finds its name written by ``escape`` (a network's escaping) as a
        whole word, longest name first. Kept per escape function: the composer asks for every rendered text,
        and building them cost ~10 µs per entity each time."""
        found = self._name_patterns.get(escape)
        if found is None:
            ordered = sorted(self.entities.values(), key=lambda e: -len(e.name))
            found = tuple((e, re.compile(rf"(?<![\w#@]){re.escape(escape(e.name))}(?!\w)")) for e in ordered)
            self._name_patterns[escape] = found
        return found


def load_directory(path: Path | None) -> Directory:
    """Read and validate the directory file; ``None`` gives the empty directory.

    Raises ``InputError`` (``InputErrors`` when there are several problems) naming the field and the line.
    """
    if path is None:
        return Directory.empty()
    source = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(source, "", f"cannot be read ({exc})", "check PUBLISHER_DIRECTORY_FILE") from exc
    return parse_directory(text, source)


def parse_directory(text: str, source: str = "directory") -> Directory:
    """Validate directory YAML given as text (``load_directory`` without the file)."""
    from publisher.compose.directory_reader import DirectoryReader  # it builds this module's types

    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = f"(line {mark.line + 1}) " if mark else ""
            raise InputError(source, "", f"{line}is not valid YAML: {exc.problem}", "fix the syntax") from exc
        except yaml.YAMLError as exc:
            raise InputError(source, "", f"is not valid YAML: {exc}", "fix the syntax") from exc
        if root is None:
            return Directory(source_name=source)
        reader = DirectoryReader(source, loader)
        directory = reader.directory(root)
    finally:
        loader.dispose()
    if reader.errors:
        in_file_order = sorted(zip(reader.lines, range(len(reader.lines)), reader.errors, strict=True))
        raise combine_errors(source, [error for _, _, error in in_file_order])
    return directory
