"""The interface every network fake offers, so fault-matrix code needs no per-network branches.

A network fake subclasses ``NetworkFake`` (itself a ``FakeServer``) and fills a few hooks with its API's
own wire format; the shared methods below then speak that format:

* faults, aimed by default at the call that publishes (``is_publish``), each for ``times`` requests:
  ``rate_limit``, ``revoke_token``, ``server_error`` (answered, nothing applied), ``lose_answer``
  (applied, then the connection drops before the answer), ``time_out`` (applied, then silence until the
  client's read timeout),
  ``drop_request`` (connection dropped, nothing applied), ``malformed_answer`` (applied, a body that is
  not JSON), ``answer_without_id`` (applied, a success answer without the new id), ``slow`` (latency).
  ``path`` (a regular expression on the request path) aims a fault elsewhere, ``""`` at every request.
* inspection: ``posts`` (what the network holds, as ``Published``), ``applied`` and ``requests``.
* ``service_settings()`` (the settings section pointing a target at this fake) and ``service_env()``
  (the same as ``PUBLISHER_<NETWORK>__...`` environment variables, for daemons and the CLI).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from tests.fakes.base import FakeServer, Fault, Reply, Request


@dataclass(frozen=True)
class Published:
    """One post a fake network holds, the same shape on every network."""

    #: the id the service records for it (``Delivery.remote_id``): VK ``-GROUP_ID``, Telegram the
    #: first message of an album
    remote_id: str
    #: the text or caption as it was sent (X stores a t.co-wrapped copy; see FakeX.tweets)
    text: str
    created_at: datetime
    #: the link sent beside the text (Facebook's ``link``), else None
    link: str | None = None
    #: the bytes of each attached picture or video, in order
    media: tuple[bytes, ...] = ()


class NetworkFake(FakeServer):
    """A fake of one network: the shared fault, inspection and settings interface (see the module)."""

    #: the target name the service uses (``vk``, ``x``...), the prefix of its settings
    network: ClassVar[str] = ""

    # --- hooks a network fills, in its API's own wire format ---------------------------------------

    def is_publish(self, request: Request) -> bool:
        """Whether ``request`` is a call that creates a post (where faults aim by default)."""
        raise NotImplementedError

    @property
    def posts(self) -> list[Published]:
        """What the network holds, oldest first."""
        raise NotImplementedError

    def service_settings(self) -> dict[str, Any]:
        """The service's settings section for this network, pointing at this fake (``api_url`` first)."""
        raise NotImplementedError

    def created_texts(self) -> list[str]:
        """What each applied publishing request carried, one entry per post made (crash tests look for
        markers here). By default its body; a network whose publishing call names only an earlier upload
        (Instagram's ``media_publish``) returns the caption it published."""
        return [request.body.decode("utf-8", "replace") for request in list(self.applied)]

    def rate_limit_answer(self, request: Request, seconds: int) -> Reply:
        """The network's rate-limit answer announcing a wait of ``seconds`` where its format can."""
        raise NotImplementedError

    def revoked_answer(self, request: Request) -> Reply:
        """The answer to a call made with a revoked or expired token."""
        raise NotImplementedError

    def server_error_answer(self, request: Request, status: int) -> Reply:
        """The network's answer to a server-side failure with HTTP ``status`` (nothing applied)."""
        raise NotImplementedError

    def no_id_answer(self) -> Reply:
        """A success answer that lacks the id of what was created."""
        raise NotImplementedError

    # --- the shared interface ----------------------------------------------------------------------

    def fault(self, kind: str, path: str | None = None, *, times: int = 1, **kw: Any) -> None:
        """Inject a base ``Fault`` aimed at the publishing call unless ``path`` is given."""
        when: Callable[[Request], bool] | None = self.is_publish if path is None else None
        self.inject(Fault(kind, path=path or "", times=times, when=when, **kw))

    def _answer(self, reply: Callable[[Request], Reply], path: str | None, times: int) -> None:
        self.fault("status", path, times=times, answer=reply)

    def rate_limit(self, seconds: int = 600, *, times: int = 1, path: str | None = None) -> int | None:
        """Refuse for rate limiting. Returns the reset instant (epoch) if the network announces one."""
        self._answer(lambda request: self.rate_limit_answer(request, seconds), path, times)
        return None

    def revoke_token(self, *, times: int = 1, path: str | None = None) -> None:
        """Answer as for a revoked token (nothing applied)."""
        self._answer(self.revoked_answer, path, times)

    def server_error(self, status: int = 500, *, times: int = 1, path: str | None = None) -> None:
        """Answer with a server error (nothing applied)."""
        self._answer(lambda request: self.server_error_answer(request, status), path, times)

    def lose_answer(self, *, times: int = 1, path: str | None = None) -> None:
        """Apply the request, then drop the connection: the post exists, the client never hears."""
        self.fault("drop_after_apply", path, times=times)

    def time_out(self, seconds: float = 60.0, *, times: int = 1, path: str | None = None) -> None:
        """Apply the request, then stay silent until the client gives up (at most ``seconds``)."""
        self.fault("timeout_after_apply", path, times=times, seconds=seconds)

    def drop_request(self, *, times: int = 1, path: str | None = None) -> None:
        """Drop the connection without applying or answering."""
        self.fault("drop_before_apply", path, times=times)

    def malformed_answer(self, *, times: int = 1, path: str | None = None) -> None:
        """Apply, then answer 200 with a body that is not JSON."""
        self.fault("malformed_after_apply", path, times=times)

    def answer_without_id(self, *, times: int = 1, path: str | None = None) -> None:
        """Apply, then answer success without the new post's id."""
        answer = self.no_id_answer()
        self.fault("raw", path, times=times, status=answer.status, body=answer.body)

    def slow(self, seconds: float, *, times: int = 1, path: str | None = None) -> None:
        """Wait ``seconds`` before handling the request normally."""
        self.fault("latency", path, times=times, seconds=seconds)

    def service_env(self, prefix: str = "PUBLISHER") -> dict[str, str]:
        """``service_settings()`` as environment variables (nested sections joined by ``__``)."""
        found: dict[str, str] = {}

        def add(name: str, value: Any) -> None:
            if isinstance(value, dict):
                for key, inner in value.items():
                    add(f"{name}__{key.upper()}", inner)
            elif value is not None:
                found[name] = str(value)

        add(f"{prefix}_{self.network.upper()}", self.service_settings())
        return found
