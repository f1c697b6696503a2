"""Instagram's media paths, beside its adapter: where Instagram fetches a picture, how a video reaches Meta,
and the wait while Instagram processes a media container.

* Pictures: Instagram accepts a picture only as a public URL it fetches itself ("We cURL media used in
  publishing attempts, so the media must be hosted on a publicly accessible server at the time of the
  attempt": https://developers.facebook.com/docs/instagram-platform/content-publishing). ``PublicFolder``
  copies the picture into a folder an existing web server (or a mounted object-storage bucket) publishes,
  under a fresh unguessable name, and removes the copy once Instagram has processed the container. Why this
  and not a server of our own: docs/install.md.
* Videos: the resumable upload to ``rupload.facebook.com`` (``POST /ig-api-upload/<version>/<container>``
  with ``Authorization: OAuth <token>``, ``offset`` and ``file_size`` headers, the bytes as the body ->
  ``{"success": true}``): no public copy needed.
  https://developers.facebook.com/docs/instagram-platform/content-publishing/resumable-uploads
* Containers: ``GET /<container>?fields=status_code,status`` until ``FINISHED``; ``ERROR`` (``status``
  carries the error subcode) and ``EXPIRED`` refuse this post with the reason. The wait is part of the
  upload (``Adapter.budget``: ``timeouts.upload``, and the daemon's stop): past it, a transient failure
  (nothing was published; the next attempt starts afresh).
  https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from publisher.adapters.graph import as_int
from publisher.adapters.uploads import UploadBudget
from publisher.errors import AuthError, ContentRejected, PermanentError, TransientError
from publisher.models import MediaItem

#: Meta's upload host; the container's ``uri`` names it, the session sends it to ``settings.upload_url``.
UPLOAD_ORIGIN = "https://rupload.facebook.com"

#: Error subcodes a failed container reports (its ``status``), in words an editor can act on:
#: https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/error-codes
CONTAINER_ERRORS = {
    "2207003": "Instagram took too long to download the media",
    "2207004": "the picture is too large for Instagram (at most 8 MB)",
    "2207005": "Instagram does not take this picture format (use JPEG)",
    "2207009": "the picture's aspect ratio is outside what Instagram takes (4:5 to 1.91:1)",
    "2207026": "Instagram does not take this video (MP4 or MOV, H.264, AAC; see the Reels specification)",
    "2207052": "Instagram could not fetch the media from its public address",
}
#: Bytes of video in one upload request: small enough to go out well within the session's deadline.
UPLOAD_PART = 8 * 1024 * 1024
#: How long to wait between two looks at a container: short at first (a picture is ready at once).
POLL_STEPS = (0.2, 0.5, 1.0, 2.0, 3.0, 5.0)


class PublicFolder:
    """Copies of pictures in ``folder``, which a web server publishes at ``base_url``."""

    def __init__(self, folder: str, base_url: str) -> None:
        self.folder = Path(folder)
        self.base_url = base_url.rstrip("/")

    def put(self, item: MediaItem) -> tuple[Path, str]:
        """Write a copy (atomically, readable by the web server) and return it with its public URL."""
        suffix = Path(item.name).suffix.lower() or ".jpg"
        name = f"{item.sha256[:12]}-{secrets.token_urlsafe(12)}{suffix}"
        self.ensure()
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".partial-")
        try:
            with os.fdopen(handle, "wb") as out, item.open() as source:
                while chunk := source.read(1 << 20):
                    out.write(chunk)
            os.chmod(temporary, 0o644)  # mkstemp makes 0600; the web server is another user
            os.replace(temporary, self.folder / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return self.folder / name, f"{self.base_url}/{name}"

    def ensure(self) -> None:
        """Create the folder if needed, traversable but not listable by the web server (0711 whatever the
        umask: the unit's UMask=0007 would shut the web server out)."""
        if not self.folder.is_dir():
            self.folder.mkdir(parents=True, exist_ok=True)
            os.chmod(self.folder, 0o711)

    @staticmethod
    def remove(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()

    def probe(self, session: requests.Session) -> str | None:
        """Write a small file, read it back through its public URL; None when that works, else the problem."""
        marker = f"publisher check {secrets.token_hex(8)}\n".encode()
        try:
            self.ensure()
            path = self.folder / f"check-{secrets.token_hex(8)}.txt"
            path.write_bytes(marker)
            os.chmod(path, 0o644)
        except OSError as exc:
            return f"cannot write into the media folder {self.folder} ({exc.strerror})"
        url = f"{self.base_url}/{path.name}"
        try:
            answer = session.get(url)
            seen = answer.content if answer.status_code == 200 else None
        except requests.RequestException:
            seen = None
        finally:
            self.remove(path)
        if seen != marker:
            return f"{url} does not serve the media folder {self.folder}: Instagram could not fetch pictures"
        return None


def wait_for_container(read: Callable[[str], dict[str, Any]], container: str, budget: UploadBudget) -> None:
    """Return once ``container`` is FINISHED (``read`` is one status GET); raise with the reason otherwise.

    ``budget`` bounds the wait and ends it when the daemon stops; its ``error`` builds the adapter's errors.
    """
    for step in itertools.count():
        budget.step(f"Instagram processing container {container}")
        body = read(container)
        code = str(body.get("status_code") or "")
        if code in ("FINISHED", "PUBLISHED"):
            return
        if code in ("ERROR", "EXPIRED"):
            status = str(body.get("status") or "")
            known = next((words for sub, words in CONTAINER_ERRORS.items() if sub in status), None)
            reason = known or f"Instagram could not process the media ({code}: {status[:120] or 'no reason'})"
            raise budget.error(ContentRejected, f"{reason}; nothing was published")
        budget.wait(POLL_STEPS[min(step, len(POLL_STEPS) - 1)], f"Instagram processing container {container}")


def upload_video(
    session: requests.Session, uri: str, token: str, item: MediaItem, budget: UploadBudget
) -> None:
    """Send the video to the container's resumable-upload ``uri`` in parts of ``UPLOAD_PART`` bytes, each
    with its ``offset`` and the whole ``file_size``, so that no single request outlives the session's
    deadline (a failed part ends this attempt; the next starts again with a new container). Never in doubt:
    no post exists yet.

    Answers: ``{"success": true, ...}``; a refusal carries ``{"debug_info": {"retriable", "type",
    "message"}}`` (resumable-uploads guide, "Upload the video" and "Resume an interrupted upload").
    """
    data = item.read()
    for offset in range(0, len(data), UPLOAD_PART) or [0]:
        budget.step(f"uploading {item.name} from byte {offset}")
        headers = {"Authorization": f"OAuth {token}", "offset": str(offset), "file_size": str(len(data))}
        _uploaded(session.post(uri, headers=headers, data=data[offset : offset + UPLOAD_PART]), budget.error)


def _uploaded(response: requests.Response, errors: Any) -> None:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and body.get("success") is True:
        return
    info = body.get("debug_info") if isinstance(body, dict) else None
    info = info if isinstance(info, dict) else {}
    said = (
        f"the video upload was refused (HTTP {response.status_code}: {str(info.get('message') or '')[:120]})"
    )
    if response.status_code in (401, 403):
        raise errors(AuthError, f"{said}; check the access token", status=response.status_code)
    if response.status_code >= 500 or info.get("retriable") is True or body is None:
        raise errors(TransientError, f"{said}; nothing was published", status=response.status_code)
    raise errors(PermanentError, f"{said}; nothing was published", status=response.status_code)


def quota(body: dict[str, Any], max_per_day: int) -> tuple[int, int]:
    """From a ``content_publishing_limit`` answer: (posts published through the API in the last 24 hours,
    the most allowed: ``max_per_day`` or Instagram's ``quota_total``, whichever is lower)."""
    data = body.get("data")
    entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    config = entry.get("config")
    config = config if isinstance(config, dict) else {}
    total, used = as_int(config.get("quota_total")), as_int(entry.get("quota_usage"))
    return used or 0, min(max_per_day, total or max_per_day)
