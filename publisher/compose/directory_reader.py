"""Reading the directory YAML node by node, so every value keeps its line and every problem is collected.

``publisher.compose.directory.parse_directory`` drives it; the types it builds live in ``directory``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import time
from types import MappingProxyType
from typing import Any, TypeVar

import yaml

from publisher.adapters import profile_of
from publisher.compose.directory import (
    ENTITY_KEY,
    Directory,
    Entity,
    HashtagError,
    NetworkPolicy,
    Placement,
    Rubric,
    normalize_hashtag,
)
from publisher.errors import InputError
from publisher.models import NETWORKS, network_of
from publisher.plan.cadence import Cadence, CadenceError, parse_cadence, parse_slot

T = TypeVar("T")
_NO_TAGS: tuple[str, ...] = ()

_TOP_KEYS = ("hashtags", "rubrics", "entities", "networks")
_RUBRIC_KEYS = ("hashtags", "owner", "description", "cadence", "slots", "networks", "paused", "remind_days")
_OWNER_KEYS = ("name", "telegram")
_AT_HANDLE = re.compile(r"@([A-Za-z][A-Za-z0-9_]{3,31})\b")
_ENTITY_KEYS = ("name", "note", *NETWORKS)
_POLICY_KEYS = ("hashtags", "hashtag_placement", "max_hashtags", "max_length")


def _resolve_owner(rubric: Rubric, entities: Mapping[str, Entity]) -> Rubric:
    """An owner written as an entity key takes the entity's name and Telegram username."""
    entity = entities.get(rubric.owner.lstrip("@").lower())
    if entity is None or rubric.owner_telegram:
        return rubric
    return replace(rubric, owner=entity.name, owner_telegram=entity.handle("telegram"))


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


class DirectoryReader:
    """Walks the YAML node tree so every value keeps its line number; collects every problem."""

    def __init__(self, source: str, loader: yaml.SafeLoader) -> None:
        self.source = source
        self.loader = loader
        self.errors: list[InputError] = []
        self.lines: list[int] = []

    def fail(self, node: yaml.Node, path: str, problem: str, fix: str = "") -> None:
        self.lines.append(node.start_mark.line + 1)
        self.errors.append(InputError(self.source, path, f"(line {self.lines[-1]}) {problem}", fix))

    def value(self, node: yaml.Node, path: str) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.fail(node, path, f"cannot be read: {getattr(exc, 'problem', exc)}", "use plain YAML values")
            return None

    def mapping(self, node: yaml.Node, path: str, allowed: tuple[str, ...] | None) -> dict[str, yaml.Node]:
        if _is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, path, "must be a mapping (key: value lines)")
            return {}
        out: dict[str, yaml.Node] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            raw = self.value(key_node, path)
            key = str(raw) if raw is not None else ""
            sub = f"{path}.{key}" if path else key
            folded = key.casefold()
            if folded in first_line:
                self.fail(
                    key_node,
                    sub,
                    f"is a duplicate key (first at line {first_line[folded]})",
                    "keep one of them",
                )
                continue
            first_line[folded] = key_node.start_mark.line + 1
            if allowed is not None and key not in allowed:
                self.fail(key_node, sub, "is not a known key", f"use one of: {', '.join(allowed)}")
                continue
            out[key] = value_node
        return out

    def text(self, node: yaml.Node, path: str) -> str:
        value = self.value(node, path)
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.fail(node, path, "must be text")
            return ""
        return str(value).strip()

    def tags(self, node: yaml.Node, path: str) -> tuple[str, ...]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [] if _is_null(node) else [node]
        out: dict[str, str] = {}
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]" if isinstance(node, yaml.SequenceNode) else path
            if _is_null(item):
                self.fail(
                    item, item_path, "is empty", "a # after a space starts a YAML comment: quote the tag"
                )
                continue
            before = len(self.errors)
            raw = self.text(item, item_path)
            if len(self.errors) > before:
                continue
            try:
                tag = normalize_hashtag(raw)
            except HashtagError as exc:
                self.fail(
                    item,
                    item_path,
                    str(exc),
                    "write a word or words joined together, e.g. НаучнаяБиблиотекаБНТУ",
                )
                continue
            out.setdefault(tag.casefold(), tag)
        return tuple(out.values())

    def number(self, node: yaml.Node, path: str, minimum: int) -> int | None:
        value = self.value(node, path)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(node, path, f"must be a whole number of at least {minimum}")
            return None
        return value

    def flag(self, node: yaml.Node, path: str) -> bool:
        value = self.value(node, path)
        if not isinstance(value, bool):
            self.fail(node, path, "must be true or false")
            return False
        return value

    def opt(
        self,
        fields: dict[str, yaml.Node],
        key: str,
        path: str,
        read: Callable[[yaml.Node, str], T],
        default: T,
    ) -> T:
        return read(fields[key], f"{path}.{key}" if path else key) if key in fields else default

    def directory(self, root: yaml.Node) -> Directory:
        top = self.mapping(root, "", _TOP_KEYS)
        hashtags = self.opt(top, "hashtags", "", self.tags, _NO_TAGS)
        sections = {
            k: self.mapping(top[k], k, NETWORKS if k == "networks" else None) if k in top else {}
            for k in ("rubrics", "entities", "networks")
        }
        rubrics = {key: self.rubric(key, node) for key, node in sections["rubrics"].items()}
        entities: dict[str, Entity] = {}
        for key, node in sections["entities"].items():
            entity = self.entity(key, node)
            if entity is not None:
                entities[entity.key] = entity
        self.check_ambiguity(entities, sections["entities"])
        rubrics = {key: _resolve_owner(rubric, entities) for key, rubric in rubrics.items()}
        networks = {net: self.policy(net, node) for net, node in sections["networks"].items()}
        return Directory(
            hashtags=hashtags,
            entities=MappingProxyType(entities),
            rubrics=MappingProxyType(rubrics),
            networks=MappingProxyType(networks),
            source_name=self.source,
        )

    def rubric(self, key: str, node: yaml.Node) -> Rubric:
        path = f"rubrics.{key}"
        fields = self.mapping(node, path, _RUBRIC_KEYS)
        if "hashtags" not in fields:
            self.fail(node, path, "has no hashtags", "add hashtags: [tag] (usually the rubric's own tag)")
        no_owner: tuple[str, str | None] = ("", None)
        owner, telegram = self.opt(fields, "owner", path, self.owner, no_owner)
        return Rubric(
            key=key,
            hashtags=self.opt(fields, "hashtags", path, self.tags, _NO_TAGS),
            owner=owner,
            description=self.opt(fields, "description", path, self.text, ""),
            cadence=self.opt(fields, "cadence", path, self.cadence, None),
            slots=self.opt(fields, "slots", path, self.slots, ()),
            networks=self.opt(fields, "networks", path, self.networks, ()),
            paused=self.opt(fields, "paused", path, self.flag, False),
            owner_telegram=telegram,
            remind_days=self.opt(fields, "remind_days", path, lambda n, p: self.number(n, p, 0), None),
        )

    def owner(self, node: yaml.Node, path: str) -> tuple[str, str | None]:
        """``owner: text`` (an ``@username`` in it is the Telegram contact), an entity key, or a mapping."""
        if isinstance(node, yaml.MappingNode):
            fields = self.mapping(node, path, _OWNER_KEYS)
            name = self.opt(fields, "name", path, self.text, "")
            handle = self.opt(fields, "telegram", path, self.text, "").removeprefix("@") or None
            contact = profile_of("telegram")  # owners are reminded in the team's Telegram
            pattern, fix = contact.handle, contact.handle_fix
            if handle is not None and not pattern.fullmatch(handle):
                self.fail(
                    fields["telegram"], f"{path}.telegram", f"{handle!r} is not a Telegram username", fix
                )
                handle = None
            return name or (f"@{handle}" if handle else ""), handle
        text = self.text(node, path)
        found = _AT_HANDLE.search(text)
        return text, found.group(1) if found else None

    def cadence(self, node: yaml.Node, path: str) -> Cadence | None:
        try:
            return parse_cadence(self.value(node, path))
        except CadenceError as exc:
            self.fail(node, path, exc.problem, exc.fix)
            return None

    def slots(self, node: yaml.Node, path: str) -> tuple[time, ...]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        found: set[time] = set()
        for item in items:
            try:
                found.add(parse_slot(self.value(item, path)))
            except CadenceError as exc:
                self.fail(item, path, exc.problem, exc.fix)
        return tuple(sorted(found))

    def networks(self, node: yaml.Node, path: str) -> tuple[str, ...]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: list[str] = []
        for item in items:
            name = self.text(item, path).lower()
            if network_of(name) not in NETWORKS:
                self.fail(
                    item, path, f"{name!r} is not a network", f"use {', '.join(NETWORKS)} or NET:ACCOUNT"
                )
            elif name not in out:
                out.append(name)
        return tuple(out)

    def entity(self, key: str, node: yaml.Node) -> Entity | None:
        path = f"entities.{key}"
        if not ENTITY_KEY.fullmatch(key):
            self.fail(
                node,
                path,
                "is not a valid entity key",
                "use lower-case Latin letters, digits and _ (editors write @key)",
            )
            return None
        fields = self.mapping(node, path, _ENTITY_KEYS)
        if "name" not in fields:
            self.fail(node, path, "has no name", "add name: shown where the entity has no account")
        name = self.opt(fields, "name", path, self.text, "")
        if "name" in fields and not name:
            self.fail(fields["name"], f"{path}.name", "must not be empty")
        if any(ch in name for ch in "[]|"):
            self.fail(fields["name"], f"{path}.name", "must not contain [ ] or | (they break VK links)")
        handles: dict[str, str] = {}
        for network in (n for n in NETWORKS if n in fields):
            value = self.text(fields[network], f"{path}.{network}").removeprefix("@")
            profile = profile_of(network)
            if not profile.handle.fullmatch(value):
                self.fail(
                    fields[network],
                    f"{path}.{network}",
                    f"{value!r} is not a valid {network} handle",
                    profile.handle_fix,
                )
            else:
                handles[network] = value
        note = self.opt(fields, "note", path, self.text, "")
        return Entity(key=key, name=name, handles=MappingProxyType(handles), note=note)

    def check_ambiguity(self, entities: dict[str, Entity], nodes: dict[str, yaml.Node]) -> None:
        """Two entities must not share a handle or a name, and an ``@handle`` must not be another's key."""
        seen: dict[tuple[str, str], str] = {}
        for entity in entities.values():
            node = nodes[entity.key]
            for kind, value in [("name", entity.name), *entity.handles.items()]:
                other = seen.setdefault((kind, value.casefold()), entity.key)
                if other != entity.key and value:
                    self.fail(
                        node,
                        f"entities.{entity.key}.{kind}",
                        f"{value!r} is also used by entity {other!r}",
                        "each entity needs its own handles and name",
                    )
            for network in (n for n in NETWORKS if profile_of(n).at_handles):
                handle = (entity.handle(network) or "").lower()
                if handle in entities and handle != entity.key:
                    self.fail(
                        node,
                        f"entities.{entity.key}.{network}",
                        f"{handle!r} is the key of another entity, so @{handle} would be ambiguous",
                        "rename one of the keys",
                    )

    def placement(self, node: yaml.Node, path: str) -> Placement:
        value = self.text(node, path)
        if value not in ("end", "inline"):
            self.fail(
                node,
                path,
                f"{value!r} is not a placement",
                "use end (a last paragraph of tags) or inline (after the last line)",
            )
            return "end"
        return "inline" if value == "inline" else "end"

    def policy(self, network: str, node: yaml.Node) -> NetworkPolicy:
        path = f"networks.{network}"
        profile = profile_of(network)
        fields = self.mapping(node, path, _POLICY_KEYS + profile.policy_options)
        screen_name = self.opt(fields, "screen_name", path, self.text, "").removeprefix("@") or None
        policy = NetworkPolicy(
            hashtags=self.opt(fields, "hashtags", path, self.tags, _NO_TAGS),
            hashtag_placement=self.opt(fields, "hashtag_placement", path, self.placement, "end"),
            max_hashtags=self.opt(fields, "max_hashtags", path, lambda n, p: self.number(n, p, 0), None),
            max_length=self.opt(fields, "max_length", path, lambda n, p: self.number(n, p, 1), None),
            community_hashtags=self.opt(fields, "community_hashtags", path, self.flag, False),
            screen_name=screen_name,
            page_mentions=self.opt(fields, "page_mentions", path, self.flag, False),
        )
        if screen_name is not None and not profile.handle.fullmatch(screen_name):
            self.fail(
                fields["screen_name"],
                f"{path}.screen_name",
                f"{screen_name!r} is not a {profile.title} screen name",
                profile.handle_fix,
            )
        if policy.community_hashtags and not screen_name:
            self.fail(
                fields["community_hashtags"],
                f"{path}.community_hashtags",
                "needs screen_name",
                "add screen_name: the community's address after vk.com/",
            )
        return policy
