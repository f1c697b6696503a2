"""What the composer has to say about a rendered post: a kind and its parameters, worded only when shown.

A warning is data, not a sentence, so that the parts that act on it can tell the cases apart: the
dispatcher refuses to publish a post whose directory key disappeared while it waited (``blocks_publishing``)
but publishes one whose mention is merely written as a plain name; receipts, the editors' chat and ``preview``
show ``str(warning)``, worded in the editors' language at that moment (the catalog ids are marked here).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from publisher.i18n import N_, _


class Kind(StrEnum):
    #: the entity has no account on this network: its name is written instead (harmless)
    NO_ACCOUNT = "no_account"
    #: an ``@word`` that is another network's handle from the directory: left as written (harmless)
    FOREIGN_HANDLE = "foreign_handle"
    #: ``@key`` or ``[words](@key)`` in the text, or ``mentions: [key]``, with no such key in the directory.
    #: Acceptance refuses these, so at publishing time it means the key was removed while the post waited.
    MISSING_KEY = "missing_key"
    #: an optional hashtag dropped: the network takes only so many hashtags
    DROPPED_HASHTAG_COUNT = "dropped_hashtag_count"
    #: more hashtags than the network takes even without the optional ones
    TOO_MANY_HASHTAGS = "too_many_hashtags"
    #: an optional hashtag dropped to fit the network's length limit
    DROPPED_HASHTAG_LENGTH = "dropped_hashtag_length"
    #: the full text was too long: the post's override text was used
    USED_OVERRIDE = "used_override"
    #: the network shows no clickable link (Instagram captions): the post's link is left out
    LINK_LEFT_OUT = "link_left_out"
    #: a URL written in the text will be plain text there
    LINK_NOT_CLICKABLE = "link_not_clickable"


_TEXTS: dict[Kind, str] = {
    Kind.NO_ACCOUNT: N_("{key} has no {network} account in the directory: written as its name «{name}»"),
    Kind.FOREIGN_HANDLE: N_("@{word} is an account on another network, not in {network}: left as written"),
    Kind.MISSING_KEY: N_(
        "@{key} is not in the directory: not published, so that it does not appear as written"
    ),
    Kind.DROPPED_HASHTAG_COUNT: N_(
        "dropped optional hashtag #{tag}: {network} takes at most {count} hashtags"
    ),
    Kind.TOO_MANY_HASHTAGS: N_(
        "{count} hashtags, more than the {limit} set for {network} (rubric and body tags are kept)"
    ),
    Kind.DROPPED_HASHTAG_LENGTH: N_("dropped optional hashtag #{tag} to fit the {network} limit"),
    Kind.USED_OVERRIDE: N_("used overrides.{key}: the full text is {length} {unit} of {limit}"),
    Kind.LINK_LEFT_OUT: N_(
        "{network}: the link {link} is left out of the caption (links there are not clickable); "
        "put it in the profile or say where to find it in words"
    ),
    Kind.LINK_NOT_CLICKABLE: N_("{network}: a link in the text is shown as plain text there, not clickable"),
}

#: Kinds that must stop a delivery: publishing would put a literal ``@key`` (or lose a mention) in public.
BLOCKING = frozenset({Kind.MISSING_KEY})


@dataclass(frozen=True)
class Notice:
    """One warning about a rendered post: ``kind`` and its parameters (hashable, so repeats collapse)."""

    kind: Kind
    params: tuple[tuple[str, str | int], ...] = ()

    @classmethod
    def of(cls, kind: Kind, **params: str | int) -> Notice:
        return cls(kind, tuple(params.items()))

    def param(self, name: str) -> str | int:
        return dict(self.params)[name]

    @property
    def blocks_publishing(self) -> bool:
        return self.kind in BLOCKING

    def as_dict(self) -> dict[str, str | int]:
        """For the publish log and ``--json`` output: the kind, its parameters and the words shown."""
        return {"kind": self.kind.value, **dict(self.params), "text": str(self)}

    def __str__(self) -> str:
        """The warning in the current language (``PUBLISHER_LANGUAGE``)."""
        params = dict(self.params)
        if self.kind is Kind.USED_OVERRIDE:
            params["unit"] = _(str(params["unit"]))  # a profile's way of counting, marked in the composer
        return _(_TEXTS[self.kind]).format(**params)


def missing_keys(notices: tuple[Notice, ...] | list[Notice]) -> list[str]:
    """The directory keys a rendered post uses that the directory no longer has, once each, in order."""
    return list(dict.fromkeys(str(n.param("key")) for n in notices if n.kind is Kind.MISSING_KEY))
