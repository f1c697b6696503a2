"""Loopback servers that speak each network's API, with fault injection.

How a fake is built (follow this for a new network, e.g. Instagram):

* ``base.py``: ``FakeServer``, a threaded HTTP server on 127.0.0.1 with routes, a record of every request
  (``requests``) and of the ones that created something (``applied``: a route returns
  ``Reply(..., applied=True)``), and low-level faults (``inject(Fault(kind, path=..., when=...))``).
* ``network.py``: ``NetworkFake``, the interface every network fake offers so that fault-matrix code,
  the secrets test and daemon tests need no per-network branches:

  - faults aimed at the publishing call (``is_publish``) unless ``path=`` says otherwise:
    ``rate_limit(seconds)``, ``revoke_token()``, ``server_error(status)``, ``lose_answer()`` (applied,
    answer lost), ``time_out()`` (applied, then silent until the client's read timeout makes it hang
    up: a test wanting a timeout sets a short read timeout, every other test a generous one),
    ``drop_request()``, ``malformed_answer()``, ``answer_without_id()``, ``slow(seconds)``; each takes
    ``times=``. The fake returns the wire answer the network documents for each (cite it);
  - ``posts``: what the network holds as ``Published(remote_id, text, created_at, link, media)``, with
    ``remote_id`` exactly as the service records it;
  - ``service_settings()`` (a settings section: ``api_url`` and credentials) and ``service_env()``
    (``PUBLISHER_<NETWORK>__...`` variables) pointing the service at the fake.

* One module per network (``vk.py``, ``x.py``, ``facebook.py``, ``telegram.py``, ``instagram.py``) subclasses
  ``NetworkFake``, sets ``network``, fills the hooks (``is_publish``, ``posts``, ``service_settings``,
  ``rate_limit_answer``, ``revoked_answer``, ``server_error_answer``, ``no_id_answer``) and speaks the
  API's real wire format: paths, parameters, JSON shapes, error codes and rate-limit headers, each with a
  link to the API documentation in a comment. Network-specific errors stay as extra helpers
  (``FakeVk.vk_error``, ``FakeFacebook.throttle``, ``FakeTelegram.fail``...), and the network's own
  records keep their native shape (``FakeVk.wall``, ``FakeX.tweets``, ``FakeFacebook.feed``,
  ``FakeTelegram.chats``).
* ``FAKES`` below maps each target name to its class; add the new network there (the crash test covers
  every network in it). A fake must start with no arguments (making up its own credentials, which
  ``service_settings()`` then reports).

Waiting for something a fake or a daemon does: ``tests.helpers.wait_until``.
"""

from __future__ import annotations

from tests.fakes.facebook import FakeFacebook
from tests.fakes.instagram import FakeInstagram
from tests.fakes.network import NetworkFake, Published
from tests.fakes.telegram import FakeTelegram
from tests.fakes.vk import FakeVk
from tests.fakes.x import FakeX

#: target name -> fake class, one line per network
FAKES: dict[str, type[NetworkFake]] = {
    "vk": FakeVk,
    "x": FakeX,
    "facebook": FakeFacebook,
    "telegram": FakeTelegram,
    "instagram": FakeInstagram,
}

__all__ = [
    "FAKES",
    "FakeFacebook",
    "FakeInstagram",
    "FakeTelegram",
    "FakeVk",
    "FakeX",
    "NetworkFake",
    "Published",
]
