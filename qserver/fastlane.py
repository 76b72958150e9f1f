"""A fast lane through uvicorn for the requests that clients send most (status, queue, add).

uvicorn answers every request through an ASGI cycle: a task per request, then the status
line and headers in one write and the body in another, so a client on loopback wakes up
twice per answer. ``fast_lane_protocol(answer, hot)`` is uvicorn's own httptools protocol
with one change: a keep-alive request for one of the ``hot`` (method, path) pairs, with
its key in a header and no ``Origin`` (browsers go through the app's middleware), is
answered in the parser's callback by ``answer`` (a synchronous function) in one write.
Everything else goes through the ASGI app unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from qserver.wire import dumps

# answer(method, path, api_key, body) -> (status, JSON bytes)
Answer = Callable[[str, str, str | None, bytes], tuple[int, bytes]]
MAX_BODY = 1 << 20  # a larger body takes the ordinary path (which reads it in pieces)
_SKIP = frozenset({b"origin", b"expect", b"transfer-encoding", b"upgrade"})


def _head(status: int, length: int) -> bytes:
    phrase = HTTPStatus(status).phrase.encode()
    return b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % (
        status, phrase, length)


def fast_lane_protocol(answer: Answer, hot: frozenset[tuple[str, str]]) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol answering ``hot`` requests with ``answer`` in one write."""
    lanes = {(m.encode(), p.encode()) for m, p in hot}

    class FastLaneProtocol(HttpToolsProtocol):
        _lane: tuple[str, str, str | None, bytearray] | None = None

        def on_headers_complete(self) -> None:
            self._lane = None
            method = self.parser.get_method()
            if ((method, self.url) in lanes and self.parser.should_keep_alive()
                    and (self.cycle is None or self.cycle.response_complete) and not self.pipeline):
                key: str | None = None
                for name, value in self.headers:
                    if name in _SKIP:
                        break
                    if name == b"authorization" and value[:7].lower() == b"bearer ":
                        key = value[7:].strip().decode(errors="replace")
                    elif name == b"x-api-key" and key is None:
                        key = value.decode(errors="replace")
                else:
                    self._lane = (method.decode(), self.url.decode(), key, bytearray())
                    return
            super().on_headers_complete()

        def on_body(self, body: bytes) -> None:
            lane = self._lane
            if lane is None:
                super().on_body(body)
                return
            lane[3].extend(body)
            if len(lane[3]) > MAX_BODY:
                self._lane = None
                self.transport.close()

        def on_message_complete(self) -> None:
            lane = self._lane
            if lane is None:
                super().on_message_complete()
                return
            self._lane = None
            try:
                status, payload = answer(lane[0], lane[1], lane[2], bytes(lane[3]))
            except Exception as exc:  # what the app would answer for a bug: 500, and the connection lives on
                status, payload = 500, dumps({"error": f"internal error: {type(exc).__name__}: {exc}"}).encode()
            self.transport.write(_head(status, len(payload)) + payload)
            self.on_response_complete()

    return FastLaneProtocol
