"""A post's media against one network's profile: how many files, and each video's size, length and container.

Pure, like the composer that calls it: the figures come from ``MediaItem.info``, read from the file itself at
acceptance (``publisher.intake.probe``), and the limits from the network's ``PROFILE.video``. So a video X
would refuse (too long) is refused while its author is at the desk, naming the network, the limit and the
fix, not at 18:00 when it was due.
"""

from __future__ import annotations

from publisher.adapters.profile import NetworkProfile, VideoLimits
from publisher.errors import InputError
from publisher.i18n import _, ngettext
from publisher.models import MediaItem, Post


def media_problems(post: Post, target: str, profile: NetworkProfile) -> list[InputError]:
    """Every reason ``target`` (a network of ``profile``) cannot carry the post's media; empty when it can."""
    source, media = post.source_name, post.media
    errors: list[InputError] = []
    if len(media) > profile.images.per_post:
        problem = _("has {count} files; {network} takes at most {limit}").format(
            count=len(media), network=profile.title, limit=profile.images.per_post
        )
        fix = _("remove {count} or drop {target} from networks").format(
            count=len(media) - profile.images.per_post, target=target
        )
        errors.append(InputError(source, "media", problem, fix))
    limits = profile.video
    videos = [m for m in media if m.is_video or (limits is not None and _as_video(m, limits))]
    if not videos:
        return errors
    if limits is None:
        names = ", ".join(m.name for m in videos)
        problem = _("has video {names}; publishing video to {network} is not supported yet").format(
            names=names, network=profile.title
        )
        errors.append(InputError(source, "media", problem, _("publish the video by hand, or leave it out")))
        return errors
    if len(videos) > limits.per_post:
        problem = ngettext(
            "has {count} videos; {network} takes {limit} video in one post",
            "has {count} videos; {network} takes at most {limit} videos in one post",
            limits.per_post,
        ).format(count=len(videos), network=profile.title, limit=limits.per_post)
        fix = _("leave {count} out, or drop {target} from networks").format(
            count=len(videos) - limits.per_post, target=target
        )
        errors.append(InputError(source, "media", problem, fix))
    if not limits.with_images and len(media) > len(videos):
        problem = _("has pictures and a video; {network} takes a video alone").format(network=profile.title)
        fix = _("put the pictures into another post, or drop {target} from networks").format(target=target)
        errors.append(InputError(source, "media", problem, fix))
    gifs = [m for m in videos if m.is_image]  # animated GIFs taken as videos (``_as_video``)
    if limits.gif_alone and gifs and len(media) > 1:
        # Refused here rather than published still: an album cannot carry an animation (Telegram), and
        # splitting the post in two messages would publish what the editor did not approve as one post.
        problem = _(
            "has an animated GIF among other files; {network} shows an animated GIF only in a post of "
            "its own (in an album it would stand still)"
        ).format(network=profile.title)
        fix = _("put the GIF into a post of its own, or drop {target} from networks").format(target=target)
        errors.append(InputError(source, "media", problem, fix))
    for item in videos:
        errors.extend(_video_problems(item, source, target, profile.title, limits))
    return errors


def _as_video(item: MediaItem, limits: VideoLimits) -> bool:
    """An animated GIF counts as a video where the network takes it as one (X's ``tweet_gif``)."""
    return limits.gif_max_bytes is not None and item.is_animated


def _video_problems(
    item: MediaItem, source: str, target: str, network: str, limits: VideoLimits
) -> list[InputError]:
    field = f"media '{item.name}'"
    drop = _("or drop {target} from networks").format(target=target)
    info = item.info
    errors: list[InputError] = []
    if item.is_image:  # an animated GIF
        limit = limits.gif_max_bytes or 0
        if item.size > limit:
            problem = _("is an animated GIF of {size} MB; {network} takes GIFs up to {limit} MB").format(
                size=_mb(item.size), network=network, limit=_mb(limit)
            )
            fix = _("make the GIF smaller (fewer frames or pixels), {drop}").format(drop=drop)
            errors.append(InputError(source, field, problem, fix))
        return errors
    if info is not None and info.container not in limits.containers:
        problem = _("is a {container} video; {network} takes {containers}").format(
            container=info.container.upper(),
            network=network,
            containers=", ".join(c.upper() for c in limits.containers),
        )
        fix = _("export it again as MP4, {drop}").format(drop=drop)
        errors.append(InputError(source, field, problem, fix))
    if limits.max_bytes is not None and item.size > limits.max_bytes:
        problem = _("is {size} MB; {network} takes videos up to {limit} MB").format(
            size=_mb(item.size), network=network, limit=_mb(limits.max_bytes)
        )
        fix = _("make the file smaller (a lower resolution or bit rate), {drop}").format(drop=drop)
        errors.append(InputError(source, field, problem, fix))
    seconds = info.duration if info is not None else None
    if seconds is not None and limits.max_seconds is not None and seconds > limits.max_seconds:
        problem = _("is {length} long; {network} takes videos up to {limit}").format(
            length=_length(seconds), network=network, limit=_length(limits.max_seconds)
        )
        fix = _("cut it to {limit} at most, {drop}").format(limit=_length(limits.max_seconds), drop=drop)
        errors.append(InputError(source, field, problem, fix))
    elif seconds is not None and seconds < limits.min_seconds:
        problem = _("is {length} long; {network} takes videos of at least {limit}").format(
            length=_length(seconds), network=network, limit=_length(limits.min_seconds)
        )
        errors.append(InputError(source, field, problem, _("use a longer video, {drop}").format(drop=drop)))
    return errors


def _mb(size: float) -> str:
    """Megabytes as networks count them in their documentation (10^6 bytes), one decimal when needed."""
    return f"{size / 1_000_000:.1f}".removesuffix(".0")


def _length(seconds: float) -> str:
    """``140`` -> "2 min 20 s" (in the editors' language); under a minute: "45.5 s"."""
    if seconds < 60:
        return _("{seconds} s").format(seconds=f"{seconds:.1f}".removesuffix(".0"))
    minutes, rest = divmod(round(seconds), 60)
    if minutes >= 60:
        return _("{hours} h {minutes} min").format(hours=minutes // 60, minutes=minutes % 60)
    if rest == 0:
        return _("{minutes} min").format(minutes=minutes)
    return _("{minutes} min {seconds} s").format(minutes=minutes, seconds=rest)
