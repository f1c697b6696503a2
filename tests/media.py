"""Small, valid image files for tests (each network's fake checks what it receives)."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

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
