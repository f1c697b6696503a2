"""VK uploads, for ``VkAdapter.upload_media``: wall photos and community videos, as ``wall.post`` attachments.

* Photos: ``photos.getWallUploadServer(group_id)`` -> ``upload_url``; a multipart POST of ``photo`` there ->
  ``{"server", "photo", "hash"}``; ``photos.saveWallPhoto`` -> ``[{"id", "owner_id"}]``, attached as
  ``photo{owner}_{id}``. https://dev.vk.com/ru/method/photos.getWallUploadServer ,
  https://dev.vk.com/ru/method/photos.saveWallPhoto
* Videos: ``video.save(group_id, name, wallpost=0)`` saves the video to the community's list without posting
  it -> ``{"upload_url", "video_id", "owner_id", "access_key"}``; a multipart POST of ``video_file`` to
  ``upload_url`` -> ``{"video_hash", "size", "owner_id", "video_id"}``; attached as ``video{owner}_{id}``
  (``video-GROUP_ID`` for the community). Needs the token's ``video`` right.
  https://dev.vk.com/ru/method/video.save , https://dev.vk.com/en/api/upload/video-in-profile

The upload server takes a video in one request (no resumable protocol is documented for it): a failed
upload is tried again by the next attempt, which saves a new video (the community's list may keep the
unfinished one). None of these calls publishes anything: they are never in doubt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from publisher import errors
from publisher.models import MediaItem

if TYPE_CHECKING:
    from publisher.adapters.vk import VkAdapter


def attachments(adapter: VkAdapter, media: tuple[MediaItem, ...]) -> list[str]:
    """Upload every file, in order; the ``wall.post`` attachment of each."""
    photo_url = None
    found: list[str] = []
    for item in media:
        adapter.budget.step(f"uploading {item.name}")
        if item.is_video:
            found.append(_video(adapter, item))
            continue
        if photo_url is None:
            photo_url = _photo_server(adapter)
        found.append(_photo(adapter, photo_url, item))
    return found


def _photo_server(adapter: VkAdapter) -> str:
    server = adapter.call("photos.getWallUploadServer", {"group_id": adapter.group_id}, unsafe=False)
    upload_url = adapter.as_dict(server).get("upload_url")
    if not isinstance(upload_url, str):
        raise adapter.error(
            errors.TransientError, "no photo upload address", excerpt=adapter.data_excerpt(server)
        )
    return upload_url


def _photo(adapter: VkAdapter, upload_url: str, item: MediaItem) -> str:
    uploaded = _post_file(adapter, upload_url, "photo", item)
    if uploaded.get("photo") in (None, "", "[]"):
        # The upload server answers {"photo": "[]"} (or an error) when it could not read the image.
        message = f"the image {item.name} was not accepted (JPG, PNG or GIF up to 50 MB)"
        raise adapter.error(errors.ContentRejected, message)
    values = {"group_id": adapter.group_id, **{k: uploaded[k] for k in ("photo", "server", "hash")}}
    saved = adapter.call("photos.saveWallPhoto", values, unsafe=False)
    try:
        return f"photo{int(saved[0]['owner_id'])}_{int(saved[0]['id'])}"
    except (LookupError, TypeError, ValueError):
        raise adapter.error(errors.TransientError, "a photo was saved but no id returned") from None


def _video(adapter: VkAdapter, item: MediaItem) -> str:
    values = {"group_id": adapter.group_id, "name": item.name[:128], "wallpost": 0}
    saved = adapter.as_dict(adapter.call("video.save", values, unsafe=False))
    upload_url = saved.get("upload_url")
    if not isinstance(upload_url, str):
        raise adapter.error(
            errors.TransientError, "no video upload address", excerpt=adapter.data_excerpt(saved)
        )
    uploaded = _post_file(adapter, upload_url, "video_file", item)
    owner, video_id = (
        uploaded.get("owner_id", saved.get("owner_id")),
        uploaded.get("video_id", saved.get("video_id")),
    )
    try:
        return f"video{int(owner)}_{int(video_id)}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise adapter.error(
            errors.TransientError, f"the video {item.name} was uploaded but no id returned"
        ) from None


def _post_file(adapter: VkAdapter, upload_url: str, field: str, item: MediaItem) -> dict[str, Any]:
    """POST one file to VK's upload server (multipart ``field``). Not the publishing call."""
    with item.open() as handle:
        response = adapter.session.post(upload_url, files={field: (item.name, handle, item.mime)})
    kw: dict[str, Any] = {"status": response.status_code, "excerpt": adapter.excerpt(response)}
    if not response.ok:
        bad = errors.TransientError if response.status_code >= 500 else errors.PermanentError
        raise adapter.error(bad, f"the upload server refused {item.name}", **kw)
    body = adapter.json(response, unsafe=False)
    if not isinstance(body, dict) or "error" in body:
        said = adapter.clean_text(str(adapter.as_dict(body).get("error") or ""))[:200]
        raise adapter.error(errors.ContentRejected, f"VK did not accept {item.name}: {said}", **kw)
    return body
