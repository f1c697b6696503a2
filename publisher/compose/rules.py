"""Rules a network sets on a whole post beyond its length, read from its PROFILE (no network names here):
a post that must carry a picture or a video, at most so many hashtags or mentions, links that are not
clickable. Pure; the composer calls it for every target and refuses or warns at acceptance, while the editor
is still at the desk.
"""

from __future__ import annotations

import re

from publisher.adapters.profile import NetworkProfile, picture_extension, picture_format
from publisher.compose.notices import Kind, Notice
from publisher.errors import InputError
from publisher.i18n import N_, _, ngettext
from publisher.models import Post

#: A hashtag already in a text, including VK's community form "#tag@screen_name"; not a URL fragment.
BODY_TAG = re.compile(r"(?<![\w&/#])#(\w+)(?:@[\w.]+)?")
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
#: too many hashtags or mentions for a network: the problem, and the fix by how many to remove
_TOO_MANY = {
    "hashtags": N_("has {count} hashtags for {target}; {network} takes at most {limit}"),
    "mentions": N_("has {count} mentions for {target}; {network} takes at most {limit}"),
}
_FIX = {
    "hashtags": lambda n: ngettext(
        "remove {count} hashtag from the text or the hashtags list",
        "remove {count} hashtags from the text or the hashtags list",
        n,
    ),
    "mentions": lambda n: ngettext(
        "remove {count} mention from the text or the mentions list",
        "remove {count} mentions from the text or the mentions list",
        n,
    ),
}


def lowest(*limits: int | None) -> int | None:
    """The strictest of several optional limits (None: no limit)."""
    given = [limit for limit in limits if limit is not None]
    return min(given) if given else None


def refusals(post: Post, target: str, profile: NetworkProfile, text: str) -> list[InputError]:
    """What ``profile``'s network would refuse in ``text`` (the final text for ``target``), as input errors."""
    found: list[InputError] = []
    source, network = post.source_name, profile.title
    if profile.needs_media and not post.media:
        problem = _("is missing: {network} publishes only posts with a picture or a video").format(
            network=network
        )
        fix = _("add a picture (media: [photo.jpg]) or remove {target} from networks").format(target=target)
        found.append(InputError(source, "media", problem, fix))
    found += _picture_problems(post, target, profile)
    for field, pattern, limit in (
        ("hashtags", BODY_TAG, profile.max_hashtags),
        ("mentions", profile.mention_pattern, profile.max_mentions),
    ):
        if limit is not None and (count := len(pattern.findall(text))) > limit:
            problem = _(_TOO_MANY[field]).format(count=count, target=target, network=network, limit=limit)
            fix = _FIX[field](count - limit).format(count=count - limit)
            found.append(InputError(source, field, problem, fix))
    return found


def _picture_problems(post: Post, target: str, profile: NetworkProfile) -> list[InputError]:
    """Pictures the network would refuse after fetching them: of another format, too large, or too tall or
    too wide."""
    found = []
    for item in (m for m in post.media if m.is_image):
        formats = profile.images.formats
        if formats is not None and item.mime not in formats:
            found.append(_format_problem(post.source_name, item.name, item.mime, target, profile))
        limit = profile.images.max_bytes
        if limit is not None and item.size > limit:
            problem = _(
                "has the picture {name} of {size} MB; {network} takes pictures up to {limit} MB"
            ).format(
                name=item.name,
                size=f"{item.size / 2**20:.1f}",
                network=profile.title,
                limit=limit // 2**20,
            )
            fix = _("make it smaller or remove {target} from networks").format(target=target)
            found.append(InputError(post.source_name, "media", problem, fix))
        info, ratios = item.info, profile.images.ratio
        ratio = info.width / info.height if info is not None and info.width and info.height else None
        if ratios and ratio is not None and not ratios[0] - 0.005 <= ratio <= ratios[1] + 0.005:
            problem = _(
                "has the picture {name} of {width}×{height}; {network} takes pictures whose width is "
                "{low} to {high} times their height"
            ).format(
                name=item.name,
                width=info.width if info else 0,
                height=info.height if info else 0,
                network=profile.title,
                low=ratios[0],
                high=ratios[1],
            )
            fix = _("crop it to fit or remove {target} from networks").format(target=target)
            found.append(InputError(post.source_name, "media", problem, fix))
    return found


def _format_problem(source: str, name: str, mime: str, target: str, profile: NetworkProfile) -> InputError:
    """A picture of a format the network does not take (Instagram: JPEG only): the type is the one sniffed
    from the file's content, so a JPEG saved as ``.png`` passes and a PNG renamed ``.jpg`` does not."""
    wanted = profile.images.formats or ()
    problem = _("has the picture {name} in {format}; {network} takes only {formats} pictures").format(
        name=name,
        format=picture_format(mime),
        network=profile.title,
        formats=", ".join(picture_format(f) for f in wanted),
    )
    fix = _("convert it to {format} (save it as {extension}) or remove {target} from networks").format(
        format=picture_format(wanted[0]) if wanted else "",
        extension=picture_extension(wanted[0]) if wanted else "",
        target=target,
    )
    return InputError(source, "media", problem, fix)


def warnings(post: Post, profile: NetworkProfile, text: str) -> list[Notice]:
    """What the editor should know about links on a network where they are not clickable."""
    if profile.links_clickable:
        return []
    found = []
    if post.link:
        found.append(Notice.of(Kind.LINK_LEFT_OUT, network=profile.title, link=post.link))
    if _URL.search(text):
        found.append(Notice.of(Kind.LINK_NOT_CLICKABLE, network=profile.title))
    return found
