"""What ``publisher resolve ID --published-as VALUE`` accepts for a network: a URL of one post there, or an id.

Each network's PROFILE declares ``published``: the hosts of its post URLs, the path (and for VK the query) that
names one post, and the form of a remote id as the adapter itself records it. Anything else - a ``javascript:``
URL, a VK link for a Telegram delivery, 120 KB of text - is refused with the form that would be accepted, so a
delivery is never settled as published with a reference nobody can open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from publisher.errors import InputError
from publisher.models import RemoteRef

MAX_LENGTH = 2000
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class PublishedForm:
    """A network's post URL and remote id, for an operator's ``--published-as``.

    ``path`` must match the URL's whole path (a trailing ``/`` ignored); ``query`` (optional) is searched in
    its query string instead. Their non-empty groups, joined with ``_``, are the remote id.
    """

    hosts: tuple[str, ...]
    path: re.Pattern[str]
    remote_id: re.Pattern[str]
    example: str
    query: re.Pattern[str] | None = None


def remote_ref(network: str, form: PublishedForm | None, value: str) -> RemoteRef:
    """The reference ``value`` names on ``network``, or InputError saying what would be accepted."""
    field = "--published-as"
    if form is None:
        raise InputError(field, "", f"cannot be checked for {network}", "use --not-published, or retry")
    fix = f"give the post's address on {network} (like {form.example}) or its id"
    text = value.strip()
    if not text or len(text) > MAX_LENGTH or _UNSAFE.search(text):
        raise InputError(field, "", "is not an address or an id", fix)
    if "://" not in text:
        if form.remote_id.fullmatch(text):
            return RemoteRef(text)
        raise InputError(field, "", f"{text[:80]!r} is not a {network} post id", fix)
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https") or host not in form.hosts:
        raise InputError(field, "", f"{text[:80]!r} is not an address on {network}", fix)
    match = form.path.fullmatch(parts.path.rstrip("/") or "/")
    if match is None and form.query is not None:
        match = form.query.search(parts.query)
    if match is None:
        raise InputError(field, "", f"{text[:80]!r} is not the address of one post", fix)
    return RemoteRef("_".join(g for g in match.groups() if g), text)
