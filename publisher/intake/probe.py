"""What a media file holds: kind, container, duration, size in pixels, and whether a GIF is animated.

Read from the file itself with hachoir (pure Python, parses MP4/MOV atoms and GIF blocks; no ffmpeg needed on
the server): https://hachoir.readthedocs.io/en/latest/metadata.html. Acceptance calls ``probe`` on every media
file so each network's video limits (``NetworkProfile.video``) are checked while the editor is at the desk,
and the result travels with the post (``MediaItem.info``), so adapters know a GIF is animated without
reading it again.

The small API other modules use (the Instagram adapter's REELS among them)::

    from publisher.intake.probe import ProbeError, probe
    info = probe(Path("clip.mp4"))          # or an open binary file, or bytes
    info.kind, info.container, info.duration, info.width, info.height, info.animated

``probe`` raises ``ProbeError`` (a ``ValueError`` with a reason in plain English) only for a video it cannot
read: a video whose length or picture cannot be found cannot be checked against any network's limits. An
image the parser does not understand is still an image (its pixel size stays unknown); a GIF it cannot walk
is taken as a still picture.
"""

from __future__ import annotations

import io
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from publisher.models import MediaInfo

#: Media type -> container name, for the types intake accepts (``publisher.intake.media.CANONICAL_EXT``).
CONTAINERS: dict[str, str] = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "image/gif": "gif",
    "image/jpeg": "jpeg",
    "image/png": "png",
    "image/webp": "webp",
}


class ProbeError(ValueError):
    """The file is not a video we can read; ``str(exc)`` says why in plain English."""


def probe(source: Path | IO[bytes] | bytes, mime: str | None = None) -> MediaInfo:
    """What ``source`` holds. ``mime`` (from sniffing) says which kind to expect; None: sniffed here.

    Raises ProbeError for a video without a readable length or picture, or a file that is no media at all.
    """
    with ExitStack() as stack:
        handle: IO[bytes]
        if isinstance(source, bytes):
            handle = io.BytesIO(source)
        elif isinstance(source, Path):
            handle = stack.enter_context(source.open("rb"))
        else:
            handle = source
        if mime is None:
            from publisher.intake.media import sniff_mime  # the magic numbers intake trusts

            handle.seek(0)
            mime = sniff_mime(handle.read(16))
        handle.seek(0)
        parser = _parser(handle, mime)
        found = getattr(parser, "mime_type", None) if parser is not None else None
        kind = (mime or found or "").split("/", 1)[0]
        if kind == "video":
            return _video(parser, found or mime or "")
        if kind == "image":
            return _image(parser, mime or found or "")
        raise ProbeError("is neither a picture nor a video")


def _parser(handle: IO[bytes], mime: str | None) -> Any:
    """hachoir's parser for the sniffed type (its guessing alone may take a small GIF for MPEG audio)."""
    from hachoir.core import config
    from hachoir.parser import guessParser
    from hachoir.parser.container.mp4 import MP4File
    from hachoir.parser.container.riff import RiffFile
    from hachoir.parser.image.gif import GifFile
    from hachoir.parser.image.jpeg import JpegFile
    from hachoir.parser.image.png import PngFile
    from hachoir.stream import InputIOStream

    config.quiet = True  # hachoir's own warnings go to stderr; a failure is reported by ProbeError instead
    parsers: dict[str, Any] = {
        "video/mp4": MP4File,
        "video/quicktime": MP4File,
        "image/gif": GifFile,
        "image/jpeg": JpegFile,
        "image/png": PngFile,
        "image/webp": RiffFile,
    }
    stream = InputIOStream(handle, source="media", tags=[])
    try:
        chosen = parsers.get(mime or "")
        return chosen(stream, validate=True) if chosen is not None else guessParser(stream)
    except Exception:  # a hostile or truncated file may break the parser anywhere
        return None


def _metadata(parser: Any) -> Any:
    from hachoir.metadata import extractMetadata

    try:
        return extractMetadata(parser)
    except Exception:
        return None


def _get(metadata: Any, key: str) -> Any:
    return metadata.get(key) if metadata is not None and metadata.has(key) else None


def _video(parser: Any, mime: str) -> MediaInfo:
    if parser is None or not mime.startswith("video/"):
        raise ProbeError("cannot be read as an MP4 or MOV video")
    metadata = _metadata(parser)
    width, height = _get(metadata, "width"), _get(metadata, "height")
    if not width or not height:
        raise ProbeError("has no picture (no video track with a size)")
    length = _get(metadata, "duration")
    # A fragmented MP4 may leave the movie header's duration at 0: unknown, not zero seconds long.
    seconds = length.total_seconds() if length is not None and length.total_seconds() > 0 else None
    container = CONTAINERS.get(parser.mime_type, "mp4")
    return MediaInfo("video", container, duration=seconds, width=int(width), height=int(height))


def _image(parser: Any, mime: str) -> MediaInfo:
    container = CONTAINERS.get(mime, mime.rsplit("/", 1)[-1])
    if parser is None:
        return MediaInfo("image", container)
    metadata = _metadata(parser)
    width, height = _get(metadata, "width"), _get(metadata, "height")
    animated = container == "gif" and _frames(parser) > 1
    return MediaInfo(
        "image",
        container,
        width=int(width) if width else None,
        height=int(height) if height else None,
        animated=animated,
    )


def _frames(parser: Any, enough: int = 2) -> int:
    """How many images the GIF holds, counted up to ``enough`` (two frames make it animated)."""
    count = 0
    try:
        for block in parser:
            if block.name.startswith("image["):
                count += 1
                if count >= enough:
                    break
    except Exception:
        pass  # a damaged tail: the frames read so far decide
    return count
