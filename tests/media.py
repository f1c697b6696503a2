"""Small, valid media files for tests (each network's fake checks what it receives).

There is no ffmpeg on the machine, so videos and GIFs are written here box by box and block by block: an
MP4/MOV with the boxes a player (and hachoir) reads for length and picture size (ISO/IEC 14496-12: ftyp,
moov/mvhd, trak/tkhd, mdia/mdhd/hdlr, then mdat), and a GIF89a of one or more 1x1 frames
(https://www.w3.org/Graphics/GIF/spec-gif89a.txt). The product never parses boxes itself: it uses hachoir.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

from publisher.intake.probe import probe
from publisher.models import MediaItem


def png_bytes(seed: int = 0) -> bytes:
    """A valid 1x1 RGB PNG; ``seed`` changes the pixel so that files differ."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixel = zlib.compress(bytes([0, seed % 256, 128, 255 - seed % 256]))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixel) + chunk(b"IEND", b"")


def png_file(path: Path, seed: int = 0, name: str | None = None, mime: str = "image/png") -> MediaItem:
    """Write a PNG at ``path`` and describe it as the composer hands media to an adapter.

    ``name`` is the file name the post gave (default: the file's own); ``mime`` lets a test claim
    another type for the same bytes.
    """
    data = png_bytes(seed)
    path.write_bytes(data)
    return MediaItem(name or path.name, path, hashlib.sha256(data).hexdigest(), mime, len(data))


def jpeg_bytes(seed: int = 0, width: int = 1, height: int = 1) -> bytes:
    """A baseline JPEG (JFIF) of ``width`` x ``height`` in one grey component; ``seed`` goes into a comment
    so that files differ. Markers from ITU-T T.81 (SOI, APP0, COM, DQT, SOF0, DHT, SOS, EOI); the scan
    holds one block of mid-grey (a DC difference of 0, then end of block: bits ``00``, padded with 1s),
    enough for a 1x1 picture and for readers of the header (hachoir: width, height)."""

    def segment(marker: int, payload: bytes) -> bytes:
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload

    app0 = segment(0xE0, b"JFIF\0\x01\x01\0" + struct.pack(">HH", 1, 1) + b"\0\0")
    comment = segment(0xFE, f"test picture {seed}".encode())
    quantization = segment(0xDB, b"\0" + bytes([1] * 64))
    frame = segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    # One DC table and one AC table, each with a single code of length 1 (DC category 0; AC end of block).
    huffman = segment(
        0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00" + b"\x10" + bytes([1] + [0] * 15) + b"\x00"
    )
    scan = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    return b"\xff\xd8" + app0 + comment + quantization + frame + huffman + scan + b"\x3f" + b"\xff\xd9"


def jpeg_file(path: Path, seed: int = 0, name: str | None = None) -> MediaItem:
    """Write a JPEG at ``path`` and describe it as the composer hands media to an adapter (``png_file``'s
    counterpart: Instagram takes JPEG pictures only)."""
    data = jpeg_bytes(seed)
    path.write_bytes(data)
    return MediaItem(name or path.name, path, hashlib.sha256(data).hexdigest(), "image/jpeg", len(data))


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full_box(kind: bytes, flags: int, payload: bytes) -> bytes:
    """A version-0 "full box": one byte of version, three of flags, then the payload."""
    return _box(kind, struct.pack(">I", flags) + payload)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def mp4_bytes(
    seconds: float = 2.0, width: int = 320, height: int = 240, *, size: int = 0, quicktime: bool = False
) -> bytes:
    """A video file of ``seconds`` at ``width`` x ``height``; ``size`` pads the media data to about that many
    bytes (so uploads need several chunks); ``quicktime`` writes a MOV (brand ``qt  ``)."""
    scale, length = 1000, round(seconds * 1000)
    brand = b"qt  " if quicktime else b"isom"
    ftyp = _box(b"ftyp", brand + struct.pack(">I", 512) + brand + (b"" if quicktime else b"mp41"))
    mvhd = _full_box(
        b"mvhd",
        0,
        struct.pack(">IIIIIH", 0, 0, scale, length, 0x10000, 0x100)
        + bytes(10)
        + _MATRIX
        + bytes(24)
        + b"\0\0\0\2",
    )
    tkhd = _full_box(
        b"tkhd",
        7,
        struct.pack(">IIIII", 0, 0, 1, 0, length)
        + bytes(8)
        + bytes(8)
        + _MATRIX
        + struct.pack(">II", width << 16, height << 16),
    )
    mdhd = _full_box(b"mdhd", 0, struct.pack(">IIIIHH", 0, 0, scale, length, 0x55C4, 0))
    hdlr = _full_box(b"hdlr", 0, bytes(4) + b"vide" + bytes(12) + b"VideoHandler\0")
    moov = _box(b"moov", mvhd + _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr)))
    head = ftyp + moov
    return head + _box(b"mdat", bytes(max(0, size - len(head) - 8)))


def gif_bytes(frames: int = 1, width: int = 2, height: int = 2) -> bytes:
    """A GIF89a of ``frames`` 1x1 images on a ``width`` x ``height`` screen (more than one: animated)."""
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    if frames > 1:  # the NETSCAPE2.0 loop extension every animated GIF carries
        out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for _ in range(frames):
        out += b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control: 0.1 s per frame
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return out + b"\x3b"


def media_file(path: Path, data: bytes, mime: str, name: str | None = None) -> MediaItem:
    """Write ``data`` at ``path`` and describe it as acceptance does, probed (``MediaItem.info``)."""
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    return MediaItem(name or path.name, path, digest, mime, len(data), info=probe(data, mime))


def mp4_file(path: Path, seconds: float = 2.0, *, size: int = 0, name: str | None = None) -> MediaItem:
    return media_file(path, mp4_bytes(seconds, size=size), "video/mp4", name)


def gif_file(path: Path, frames: int = 3, name: str | None = None) -> MediaItem:
    return media_file(path, gif_bytes(frames), "image/gif", name)
