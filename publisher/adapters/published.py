"""What ``publisher resolve ID --published-as VALUE`` accepts for a network: a URL of one post there, or an id.

Each network's PROFILE declares ``published``: the hosts of its post URLs, the path (and for VK the query) that
names one post, and the form of a remote id as the adapter itself records it. Anything else - a ``javascript:``
URL, a VK link for a Telegram delivery, 120 KB of text - is refused with the form that would be accepted, so a
delivery is never settled as published with a reference nobody can open.

Where a URL names the post by a key that is not its id (Instagram's ``/p/<shortcode>/``; the Graph API reads
metrics by the numeric media id), ``remote_ref`` returns a ``PostAddress`` and the network's adapter looks the
id up (``Adapter.find_published``), so the delivery is never settled with a key no API call accepts.
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
    #: None: the key a URL names is the remote id. Else the URL names the post by a key of its own, the
    #: adapter looks the id up, and this says what to give instead when it cannot
    lookup_fix: str | None = None

    def key_of(self, url: str) -> str | None:
        """The key a URL of this form names (the remote id, or the key to look up), else None."""
        parts = urlsplit(url)
        match = self.path.fullmatch(parts.path.rstrip("/") or "/")
        if match is None and self.query is not None:
            match = self.query.search(parts.query)
        return "_".join(g for g in match.groups() if g) if match is not None else None

    def misrecorded(self, remote_id: str | None) -> bool:
        """True for a recorded remote id that is a URL's key rather than an id (an Instagram shortcode stored
        by ``resolve`` before it looked ids up): the network's API reads nothing by it."""
        return (
            self.lookup_fix is not None and bool(remote_id) and not self.remote_id.fullmatch(remote_id or "")
        )


@dataclass(frozen=True)
class PostAddress:
    """A post's URL whose key is not its remote id (Instagram's shortcode): to be looked up on the network."""

    key: str
    url: str


def remote_ref(network: str, form: PublishedForm | None, value: str) -> RemoteRef | PostAddress:
    """The reference ``value`` names on ``network`` (a ``PostAddress`` when its id must be looked up), or
    InputError saying what would be accepted."""
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
    key = form.key_of(text)
    if key is None:
        raise InputError(field, "", f"{text[:80]!r} is not the address of one post", fix)
    return RemoteRef(key, text) if form.lookup_fix is None else PostAddress(key, text)
