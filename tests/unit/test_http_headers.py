"""``parse_response_headers`` gives what ``http.client.parse_headers`` gives, for every kind of header block.

The comparison is of the whole ``HTTPMessage`` (headers in order, payload, defects, policy) and of what
urllib3 then reads from it (``assert_header_parsing``'s verdict, the header items), or of the exception.
"""

from __future__ import annotations

import http.client
import io
from typing import Any

import pytest
from urllib3.exceptions import HeaderParsingError
from urllib3.util.response import assert_header_parsing

from publisher.adapters.http import parse_response_headers

PLAIN = b"Server: fake\r\nDate: Fri, 27 Nov 2026 19:12:08 GMT\r\nContent-Type: application/json; charset=utf-8\r\n"
BLOCKS = [
    PLAIN + b"Content-Length: 246\r\n\r\n",
    PLAIN + b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Empty:\r\nX-Spaces:   \r\nX-Tab:\tv \t\r\n\r\n",
    b"x-lower: v\r\nX_Under.Dot~!#$%&'*+-^`|: v\r\nX-Colons: a:b: c\r\n\r\n",
    b"Server: fake\nContent-Length: 2\n\n",  # LF only
    b"\r\n",  # no headers at all
    b"",  # the connection closed before any header
    b"Server: fake\r\nX-Cut: no end of line",  # closed mid-line
    b"Server: fake\r\nX-Folded: first\r\n second\r\n\r\n",  # obsolete line folding
    b" Leading: space\r\nServer: fake\r\n\r\n",
    b": no name\r\nServer: fake\r\n\r\n",
    b"No colon here\r\nServer: fake\r\n\r\n",
    b"From nobody: x\r\nServer: fake\r\n\r\n",
    b"Name With Space: v\r\n\r\n",
    b"Server: fake\r\nX-CR: a\rb\r\n\r\n",
    b"X-VT: a\x0bb\r\nX-FF: a\x0cb\r\nX-NEL: a\x85b\r\nX-FS: a\x1cb\r\nX-Latin: caf\xe9\r\n\r\n",
    b"X-Nul: a\x00b\r\nX-Del: a\x7fb\r\n\r\n",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n",
    b"Content-Type: multipart/mixed\r\n\r\n",
    b"CONTENT-TYPE: MESSAGE/HTTP\r\n\r\n",
    b"Content-Type: message/delivery-status\r\n\r\n",
    b"Content-Type: text/plain\r\nContent-Type: multipart/mixed\r\n\r\n",
    b"X-Header: " + b"v" * 70000 + b"\r\n\r\n",  # over the line limit
    b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n",  # over the header count limit
]


def outcome(parse: Any, block: bytes) -> Any:
    try:
        message = parse(io.BytesIO(block + b"body that must stay unread"))
    except Exception as exc:  # the same exception, with the same words
        return (type(exc), str(exc))
    try:
        assert_header_parsing(message)
        verdict: Any = None
    except HeaderParsingError as exc:
        verdict = str(exc)
    return (describe(message), list(message.items()), verdict)


def describe(message: Any) -> Any:
    """A message's state, comparable: defects and nested messages compare by identity as they are."""
    state = dict(vars(message))
    state["defects"] = [(type(d), d.args) for d in message.defects]
    if isinstance(state["_payload"], list):
        state["_payload"] = [describe(part) for part in state["_payload"]]
    return (type(message), state)


@pytest.mark.parametrize("block", BLOCKS)
def test_the_same_message_as_http_client(block: bytes) -> None:
    assert outcome(parse_response_headers, block) == outcome(http.client.parse_headers, block)


def test_a_plain_block_does_not_reach_the_email_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the email parser was used")

    monkeypatch.setattr("email.parser.Parser.parsestr", refuse)
    message = parse_response_headers(io.BytesIO(BLOCKS[1]))
    assert message.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert message["x-tab"] == "v \t"


def test_the_response_stops_reading_at_the_blank_line() -> None:
    stream = io.BytesIO(PLAIN + b"\r\n{}")
    parse_response_headers(stream)
    assert stream.read() == b"{}"
