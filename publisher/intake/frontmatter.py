"""Front matter of a post file: split it from the body and load it as hostile YAML.

The loader knows no tags, anchors or aliases, and resolves only null: every other plain scalar stays a
string (``no`` is not False, ``2026-12-01`` is not a date object we did not ask for). Before anything is
built, the YAML *events* are walked without recursion to refuse tags, anchors, aliases, excessive nesting
and size - so an alias bomb or ten thousand nested brackets cost nothing. See the PyYAML documentation,
https://pyyaml.org/wiki/PyYAMLDocumentation (loaders, ``yaml.parse`` events, resolvers).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from publisher.errors import InputError
from publisher.i18n import _

MAX_FRONT_MATTER_CHARS = 64_000
MAX_YAML_DEPTH = 8
MAX_YAML_EVENTS = 5_000


class _Resolver(BaseResolver):
    """Only null is implicit: ``no`` stays the string "no", ``2026-12-01`` stays a string we parse."""


_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)


class _Loader(Reader, Scanner, Parser, Composer, SafeConstructor, _Resolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        _Resolver.__init__(self)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _value in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key '{key_node.value}' appears twice", key_node.start_mark
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _check_events(text: str, source: str) -> None:
    """Walk the YAML events (no recursion, nothing built) and refuse what a post file never needs."""
    loader = _Loader(text)
    try:
        _walk(loader, source)
    finally:
        loader.dispose()


def _walk(loader: _Loader, source: str) -> None:
    depth = 0
    documents = 0
    count = 0
    while loader.check_event():
        event = loader.get_event()  # type: ignore[no-untyped-call]
        count += 1
        if count > MAX_YAML_EVENTS:
            raise InputError(source, "front matter", _("is too large"), _("a post needs only a few fields"))
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise InputError(
                source,
                "front matter",
                _("uses YAML anchors or aliases (& or *)"),
                _("write each value out in full"),
            )
        tag = getattr(event, "tag", None)
        if tag is not None and not isinstance(event, yaml.DocumentStartEvent):
            raise InputError(
                source, "front matter", _("uses a YAML tag ({tag})").format(tag=tag), _("remove the '!' tag")
            )
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise InputError(
                    source, "front matter", _("holds more than one YAML document"), _("remove '...'")
                )
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise InputError(
                    source, "front matter", _("is nested too deeply"), _("a post needs only a few fields")
                )
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            depth -= 1


def load_front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    """Split ``---`` front matter from the body and load it safely. Raises InputError."""
    fix = _("start the file with a line '---', then the fields, then '---', then the post text")
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        raise InputError(source, "front matter", _("is missing"), fix)
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() == "---"), None)
    if end is None:
        raise InputError(source, "front matter", _("is not closed by a '---' line"), fix)
    fm = "\n".join(lines[1:end])
    body = "\n".join(lines[end + 1 :]).strip()
    if len(fm) > MAX_FRONT_MATTER_CHARS:
        raise InputError(source, "front matter", _("is too large"), _("a post needs only a few fields"))
    try:
        _check_events(fm, source)
        loader = _Loader(fm)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or exc.context
        if mark:
            problem = _("is not valid YAML at line {line}, column {column} ({reason})").format(
                line=mark.line + 2, column=mark.column + 1, reason=reason
            )
        else:
            problem = _("is not valid YAML ({reason})").format(reason=reason)
        raise InputError(source, "front matter", problem, fix) from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        problem = _("is not valid YAML ({reason})").format(reason=type(exc).__name__)
        raise InputError(source, "front matter", problem, fix) from None
    if data is None:
        raise InputError(
            source, "front matter", _("is empty"), _("add at least 'networks' and 'approved_by'")
        )
    if not isinstance(data, dict):
        raise InputError(source, "front matter", _("is not a set of 'key: value' fields"), fix)
    return data, body


def decode_post(raw: bytes, source: str) -> str:
    if b"\x00" in raw:
        raise InputError(source, "", _("the file contains NUL bytes"), _("save it again as plain UTF-8 text"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            source,
            "",
            _("the file is not UTF-8 text (byte {position})").format(position=exc.start),
            _("save it again with UTF-8 encoding"),
        ) from None
