"""What a network accepts in one post and how it writes things: the ``PROFILE`` each network module exports.

The composer and the directory read profiles and hold no network names: a new network brings its profile
in its own module (see docs/adding-a-network.md). Pure data and pure functions, no I/O, no client library.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from publisher.adapters.published import PublishedForm

#: An ``@word`` that may be a mention: not inside an e-mail address or a URL, not a domain ("@bntu.by").
AT_WORD = re.compile(r"(?<![\w@.+\-/&#])@(\w++)(?![.\-]\w|@)")


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units: what most APIs count, and never less than the characters shown."""
    return len(text.encode("utf-16-le")) // 2


def as_is(text: str) -> str:
    return text


#: picture MIME type (as sniffed from the content) -> the name editors know it by, and its usual extension
_PICTURES = {
    "image/jpeg": ("JPEG", ".jpg"),
    "image/png": ("PNG", ".png"),
    "image/gif": ("GIF", ".gif"),
    "image/webp": ("WebP", ".webp"),
}


def picture_format(mime: str) -> str:
    """``image/png`` -> ``PNG``: a picture type as editors know it."""
    return _PICTURES.get(mime, ("", ""))[0] or mime.rsplit("/", 1)[-1].upper()


def picture_extension(mime: str) -> str:
    """``image/jpeg`` -> ``.jpg``: the extension to save a picture of that type with."""
    return _PICTURES.get(mime, ("", ""))[1] or "." + mime.rsplit("/", 1)[-1].lower()


@dataclass(frozen=True)
class VideoLimits:
    """What a network takes as video in one post, checked at acceptance from the file itself.

    ``containers`` are ``MediaInfo.container`` names (``"mp4"``, ``"mov"``). ``per_post`` is how many videos
    one post may carry; ``with_images`` says whether pictures may go with them (X and a Facebook Page take
    one video alone). ``gif_max_bytes``: an animated GIF is taken as a short video of this size at most
    (X's ``tweet_gif``); None = GIFs are pictures like any other. ``gif_alone``: an animated GIF must be the
    post's only file (Telegram sends it with ``sendAnimation``, which an album cannot hold). ``source`` is
    the documentation the figures come from (shown to nobody; it keeps them checkable).
    """

    #: None: the network documents no limit (the service's own PUBLISHER_MAX_MEDIA_BYTES still applies)
    max_bytes: int | None
    max_seconds: float | None
    containers: tuple[str, ...] = ("mp4", "mov")
    min_seconds: float = 0.0
    per_post: int = 1
    with_images: bool = False
    gif_max_bytes: int | None = None
    gif_alone: bool = False
    source: str = ""


@dataclass(frozen=True)
class ImageLimits:
    """What a network takes as pictures in one post, the counterpart of ``VideoLimits``.

    ``per_post`` is how many files one post may carry (all of them, where videos go with pictures).
    ``max_bytes``, ``ratio`` (width / height within lowest, highest) and ``formats`` (the picture types the
    network takes, as the MIME types sniffed from the file's content, e.g. ``("image/jpeg",)``) are checked
    at acceptance from the file itself; None: the network sets no such rule.
    """

    per_post: int
    max_bytes: int | None = None
    ratio: tuple[float, float] | None = None
    formats: tuple[str, ...] | None = None


@dataclass(frozen=True)
class NetworkProfile:
    """One network's rules for a post, as the composer and the directory need them.

    Mentions: ``mention`` is a format with ``{handle}`` and ``{name}``; ``mention_pattern`` finds a mention
    already written in that syntax (group 1 is the handle). ``handle_mentions_option`` names the directory
    option that must be on before handles are used (else the entity's plain name is written, which is then
    the normal form, not a fallback). Hashtags: ``hashtag`` is a format with ``{tag}``; ``rubric_hashtag``
    (with ``{screen_name}``) is used for rubric tags when the directory turns ``community_hashtags`` on.
    """

    network: str
    title: str
    #: characters (in the network's own counting) of one post's text
    limit: int
    #: how ``measure`` counts, in words for editors ("weighted characters (links 23, ...)")
    counting: str
    images: ImageLimits
    handle: re.Pattern[str]
    #: what to write in the directory when a handle does not match ``handle``
    handle_fix: str
    mention: str = "@{handle}"
    #: a mention in the editor's own words, ``[студентам ФИТР](@fitr)``: a format with {handle} and {words}
    mention_in_words: str = "{words} (@{handle})"
    mention_pattern: re.Pattern[str] = AT_WORD
    measure: Callable[[str], int] = utf16_length
    #: the limit of a caption when the post carries media, else ``limit`` applies
    caption_limit: int | None = None
    #: the directory may raise the limit (when the network documents none), not only lower it
    limit_configurable: bool = False
    video: VideoLimits | None = None
    #: the network has no separate link field, so the composer writes the post's link into the text
    link_in_text: bool = False
    parse_mode: str | None = None
    #: how plain text is escaped for ``parse_mode`` (e.g. ``& < >`` in Telegram's HTML)
    escape: Callable[[str], str] = as_is
    hashtag: str = "#{tag}"
    rubric_hashtag: str | None = None
    handle_mentions_option: str | None = None
    #: directory options under ``networks.<network>`` beyond the common ones
    policy_options: tuple[str, ...] = ()
    #: what ``resolve --published-as`` accepts: the network's post URLs and ids (None: nothing can be checked)
    published: PublishedForm | None = None
    #: most hashtags / mentions the network takes in one post (None: it sets no number); optional hashtags
    #: are dropped first, then the post is refused at acceptance
    max_hashtags: int | None = None
    max_mentions: int | None = None
    #: a post must carry a picture or a video (Instagram publishes nothing else)
    needs_media: bool = False
    #: False when links in the text are not clickable and there is no link field (Instagram captions): the
    #: post's link is left out and the editor is told
    links_clickable: bool = True

    @property
    def at_handles(self) -> bool:
        """True when a mention is the bare ``@handle``: then an ``@handle`` in a text is already one."""
        return self.mention == "@{handle}"

    def write_mention(self, handle: str, name: str) -> str:
        return self.mention.format(handle=handle, name=name)

    def write_mention_in_words(self, handle: str, words: str) -> str:
        return self.mention_in_words.format(handle=handle, words=words)

    def write_hashtag(self, tag: str, screen_name: str | None = None) -> str:
        if screen_name and self.rubric_hashtag:
            return self.rubric_hashtag.format(tag=tag, screen_name=screen_name)
        return self.hashtag.format(tag=tag)
