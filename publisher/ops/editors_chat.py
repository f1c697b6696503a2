"""The editors' Telegram group: one message per accepted file, refused file, published post, refused text.

Editors never open a terminal, so the service tells them in their own chat (``editors.telegram_chat_id``,
separate from the operators' alert chat, same bot token) and in their language. Sending must never hold up
publishing: messages go into a bounded queue that one background thread drains at most
``editors.max_per_minute`` a minute (the Bot API FAQ allows about 20 a minute per group,
https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this). A message that cannot be
sent is logged (English, for operators) and dropped; a full queue drops the oldest message.

Published and refused posts are found in the publish log (``EditorsFeed.poll`` after each drain): a post is
announced once none of its deliveries waits any more, with the link of every network it reached.
API: sendMessage, https://core.telegram.org/bots/api#sendmessage (``{"ok": true}``; 429 carries
``parameters.retry_after``).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from publisher.adapters.http import make_session
from publisher.i18n import _, local_time, ngettext
from publisher.ops.redact import register_secret, scrub
from publisher.settings import HttpTimeouts, NetworkSettings, Settings

log = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096
QUEUE_LIMIT = 200
_WAITING = ("queued", "retry_wait", "publishing")


class EditorsChat:
    """A rate-limited, non-blocking sender to one Telegram chat. ``say`` returns at once."""

    def __init__(self, settings: Settings, *, timeout: float = 10.0) -> None:
        token = settings.alerts.telegram_bot_token or settings.telegram.bot_token
        self._token = token.get_secret_value() if token is not None else None
        register_secret(self._token)
        self.chat_id = settings.editors.telegram_chat_id
        self._api_url = settings.telegram.api_url.rstrip("/")
        self._interval = 60.0 / settings.editors.max_per_minute
        self._section = NetworkSettings(
            api_url=self._api_url, timeouts=HttpTimeouts(connect=timeout, read=timeout, total=timeout * 2)
        )
        self._queue: collections.deque[str] = collections.deque(maxlen=QUEUE_LIMIT)
        self._wake = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.sent = 0

    @property
    def configured(self) -> bool:
        return bool(self._token and self.chat_id)

    def say(self, text: str) -> None:
        """Queue one message; never blocks, never raises."""
        if not self.configured:
            return
        with self._wake:
            if len(self._queue) == self._queue.maxlen:
                log.warning(
                    "editors' chat: queue full, oldest message dropped", extra={"event": "editors_drop"}
                )
            self._queue.append(text[:TELEGRAM_LIMIT])
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="editors-chat", daemon=True)
                self._thread.start()
            self._wake.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued for up to ``timeout`` seconds, then stop."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while self._queue and self._thread is not None and time.monotonic() < deadline:
                self._wake.wait(0.05)
            self._stop = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()) + 0.5)

    def _run(self) -> None:
        last = 0.0
        while True:
            with self._wake:
                while not self._queue and not self._stop:
                    self._wake.wait()
                if not self._queue:
                    return
                text = self._queue[0]
            pause = last + self._interval - time.monotonic()
            if pause > 0 and not self._stop:
                time.sleep(pause)
            retry_after = self._send(text)
            if retry_after is not None and not self._stop:
                time.sleep(min(retry_after, 60.0))
                self._send(text)
            last = time.monotonic()
            with self._wake:
                if self._queue and self._queue[0] is text:
                    self._queue.popleft()
                self._wake.notify_all()

    def _send(self, text: str) -> float | None:
        """One sendMessage; returns Telegram's retry_after when it asks to wait, else None."""
        assert self._token is not None
        payload = {"chat_id": self.chat_id, "text": text, "link_preview_options": {"is_disabled": True}}
        try:
            with make_session(self._section, "") as session:
                response = session.post(f"{self._api_url}/bot{self._token}/sendMessage", json=payload)
            data: Any = response.json()
        except Exception as exc:  # the editors' chat must never break the caller
            log.warning("editors' chat: not sent: %s", scrub(str(exc)), extra={"event": "editors_failed"})
            return None
        if response.status_code == 200 and isinstance(data, dict) and data.get("ok") is True:
            self.sent += 1
            return None
        params = data.get("parameters") if isinstance(data, dict) else None
        if response.status_code == 429 and isinstance(params, dict):
            return float(params.get("retry_after") or 1)
        description = data.get("description") if isinstance(data, dict) else ""
        log.warning(
            "editors' chat: Telegram answered HTTP %s %s",
            response.status_code,
            scrub(str(description or "")),
            extra={"event": "editors_failed"},
        )
        return None


class EditorsFeed:
    """What editors are told, from the daemon: accepted and refused files now, outcomes from the publish log."""

    def __init__(self, settings: Settings, store: Any, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.chat = EditorsChat(settings)
        self._cursor: int | None = None
        self._pending: set[int] = set()
        self._told: set[int] = set()  # published deliveries already announced
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return self.chat.configured

    def accepted(self, done: Any) -> None:
        if not self.configured:
            return
        o, post = done.outcome, done.post
        when = o.due_at or post.publish_at
        time_text = local_time(when, self.settings.zone) if when and when > self.clock() else _("now")
        key = o.key or post.key or str(o.post_id)
        if o.outcome == "withdrawn":
            text = _("Post '{key}' is withdrawn: {targets} will not be published.").format(
                key=key, targets=", ".join(o.cancelled) or _("nothing was waiting")
            )
        elif o.outcome == "unchanged":
            return  # the same file again: the receipt says so, the chat stays quiet
        else:
            head = (
                _("Post '{key}' is replaced: {time}, {targets}.")
                if o.outcome == "replaced"
                else _("Post '{key}' is accepted: {time}, {targets}.")
            )
            text = head.format(key=key, time=time_text, targets=", ".join(post.targets))
            warnings = [f"{r.target}: {w}" for r in done.renders for w in r.warnings]
            if warnings:
                text += "\n" + _("Please check:") + "\n" + "\n".join(f"• {w}" for w in warnings)
        self.chat.say(text)

    def rejected(self, name: str, message: str) -> None:
        if self.configured:
            text = _("{file} is not accepted: it is in the rejected folder with a note.").format(file=name)
            self.chat.say(f"{text}\n{message}")

    def poll(self) -> None:
        """Announce what the publish log shows since the last poll. Never raises."""
        if not self.configured:
            return
        try:
            with self._lock:
                self._poll()
        except Exception:
            log.warning("editors' chat: could not read the publish log", exc_info=True)

    def _poll(self) -> None:
        if self._cursor is None:
            self._cursor = self.store.last_event_id()  # announce what happens from now on
            return
        for e in self.store.events(after_id=self._cursor):
            self._cursor = e.id
            if e.post_id is None:
                continue
            if e.status == "published":
                self._pending.add(e.post_id)
            elif e.status == "failed" and e.detail.get("missing_keys"):
                self.chat.say(self._missing_keys(e))
            elif e.status == "failed" and e.detail.get("error_class") == "ContentRejected":
                self.chat.say(self._refused(e))
        for post_id in sorted(self._pending):
            found = self.store.deliveries(post_id=post_id)
            if any(d.state.value in _WAITING for d in found):
                continue
            self._pending.discard(post_id)
            fresh = [d.id for d in found if d.state.value == "published" and d.id not in self._told]
            if fresh:  # the log may show a post's results across two polls: tell each result once
                self._told.update(fresh)
                self.chat.say(self._published(post_id, found))

    def _name(self, post_id: int) -> str:
        post = self.store.get_post(post_id)
        return (post.key if post is not None and post.key else None) or str(post_id)

    def _refused(self, e: Any) -> str:
        return _(
            "{target} refused the text of post '{key}': {reason}. Fix the file and drop it again with the "
            "same id."
        ).format(target=e.target, key=self._name(e.post_id), reason=e.error or "")

    def _missing_keys(self, e: Any) -> str:
        keys = [str(k) for k in e.detail["missing_keys"]]
        return ngettext(
            "Post '{key}' was not published to {target}: {mentions} is no longer in the directory, and the "
            "post would show it as written. Ask for it to be put back in the directory, or remove the mention "
            "and drop the file again with the same id.",
            "Post '{key}' was not published to {target}: {mentions} are no longer in the directory, and the "
            "post would show them as written. Ask for them to be put back in the directory, or remove the "
            "mentions and drop the file again with the same id.",
            len(keys),
        ).format(key=self._name(e.post_id), target=e.target, mentions=", ".join(f"@{k}" for k in keys))

    def _published(self, post_id: int, found: list[Any]) -> str:
        lines = [_("Post '{key}' is published:").format(key=self._name(post_id))]
        for d in found:
            if d.state.value == "published":
                lines.append(f"• {d.target}: {d.remote_url or d.remote_id}")
            elif d.state.value != "cancelled":
                lines.append(
                    _("• {target}: not published ({reason})").format(target=d.target, reason=d.state.value)
                )
        return "\n".join(lines)

    def close(self) -> None:
        self.poll()
        self.chat.close()
