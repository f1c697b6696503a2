"""Keep secrets out of everything an operator can read.

Every token loaded from settings is registered here; ``scrub`` replaces it (raw, and in each form URL
encoding gives it: see ``url_forms``) in any text, and ``ScrubbingFilter`` does the same to every log record on the way to a handler. Libraries
log URLs that carry tokens (urllib3 logs VK's ``access_token=`` query and Telegram's ``/bot<token>/``
path at DEBUG), so scrubbing at the handler is the one place that catches them all.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()
_variants: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Remember a secret so that ``scrub`` hides it. Very short values are ignored (too many false hits)."""
    global _variants
    if not value or len(value) < 6:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets.add(value)
        forms: set[str] = set()
        for secret in _secrets:
            forms.update(url_forms(secret))
        # Longest first, so a secret that contains another is masked whole.
        _variants = tuple(sorted(forms, key=len, reverse=True))


#: Characters a URL path keeps literal: requests' ``requote_uri`` (RFC 3986 reserved and unreserved) and
#: urllib3's path encoding (``PATH_CHARS``); anything else in a token is percent-encoded in the path.
_PATH_SAFE = ("", "/", ":/", "!#$%&'()*+,/:;=?@[]~", "!$&'()*+,;=:@/")


def url_forms(secret: str) -> set[str]:
    """Every form ``secret`` takes in text we may log: raw, in a query (``quote_plus``), and in a URL path as
    requests and urllib3 encode it - e.g. a Telegram token ``123:AB{c}`` is ``/bot123:AB%7Bc%7D/`` on the
    wire, with ``:`` kept literal - in upper and lower case hex."""
    # Imported here: a command that registers no secret (``--help``, a run without tokens) does not pay for
    # requests (~0.1 s of start-up).
    from requests.utils import requote_uri

    forms = {secret, quote_plus(secret), requote_uri(secret)}
    forms.update(quote(secret, safe=safe) for safe in _PATH_SAFE)
    forms.update(re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), f) for f in list(forms))
    return {f for f in forms if f}


def scrub(text: str) -> str:
    """Return ``text`` with every registered secret masked."""
    for variant in _variants:
        if variant in text:
            text = text.replace(variant, MASK)
    return text


class ScrubbingFilter(logging.Filter):
    """Format the record early and mask secrets in the message and the traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _variants:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the log line
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        # The traceback is now text; drop exc_info so formatters do not re-render it unscrubbed.
        record.exc_info = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, scrub(value))
        return True


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()) | {"message"}
