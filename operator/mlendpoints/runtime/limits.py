"""Bounds on what a client may send before the app sees a request: head size, header count, time.

uvicorn's httptools protocol has no limit on the request line and headers (httptools buffers a
header until it ends, so one 100 MiB header is 100 MiB of memory) and no header-read timeout
(``timeout_keep_alive`` only runs between requests). uvicorn offers ``limit_concurrency`` (503 once
connections or tasks reach it) and, for h11 only, ``h11_max_incomplete_event_size`` (answered
400). What the library cannot do is done here, in a subclass of its protocol, so every check runs
in the connection's ``data_received`` before any ASGI app (and so before authentication):

=============================================  ===========================================
client behaviour                               answer
=============================================  ===========================================
request line + headers over ``max_header_bytes``  431, connection closed
more than ``max_headers`` header fields        431, connection closed
head not complete ``header_timeout_s`` after   408, connection closed
its first byte
nothing sent for ``idle_timeout_s`` after      connection closed (nothing to answer)
connecting
no body bytes for ``body_timeout_s`` while     408 if no response started, else closed
the body is being read
more than ``max_connections`` open at once     503, connection closed at once
=============================================  ===========================================

Raw bytes are counted as they arrive, before the parser buffers them, so a header that never ends
costs at most ``max_header_bytes`` plus one socket read. The body's size is bounded by the app
(``max_body_bytes`` -> 413). Per request this adds two Python calls; a timer is armed only while a
head or a body is still incomplete after a read (``bench/runtime/limits_overhead.py`` measures it).

A connection that has sent nothing yet is idle, not a slow head: it gets the same idle limit as a
keep-alive connection between requests (uvicorn's ``timeout_keep_alive``, the same setting). A
gateway dials connections ahead of need (Go's transport, so Traefik, pools a dialed connection its
request did not wait for) and keeps them up to its own idle timeout; closing them sooner races with
the gateway's reuse, and a POST written into a connection the server is closing is answered 502.
"""

from __future__ import annotations

import asyncio
import http
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

KiB = 1024


@dataclass(frozen=True)
class Limits:
    """Connection-level limits (sizes in bytes, times in seconds)."""

    max_header_bytes: int = 32 * KiB
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 1024
    idle_timeout_s: float = 620.0


def _response(status: int, message: str) -> bytes:
    code = http.HTTPStatus(status).phrase.replace(" ", "")
    body = orjson.dumps({"error": message, "message": message, "code": code})
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class _OverLimit(Exception):
    """Raised from the parser's headers-complete callback to stop parsing (httptools wraps it)."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`Limits`; build one with :func:`protocol_class`.

    Per request this adds two Python calls (``data_received`` and ``on_headers_complete``); the
    per-header callbacks stay uvicorn's own.
    """

    limits: ClassVar[Limits] = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # waiting for (the rest of) a request head
        self._raw_head = 0  # raw bytes received since this head began (an upper bound of its size)
        self._too_large = ""
        self._timer: asyncio.TimerHandle | None = None

    # -- timers --------------------------------------------------------------------------------
    def _arm(self, seconds: float, callback: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _reject(self, status: int, message: str) -> None:
        """Answer ``status`` where the client awaits an answer, then close the connection."""
        self._disarm()
        if self.transport.is_closing():
            return
        self.logger.info("closing connection from %s: %s %s", self.client, status, message)
        cycle = self.cycle
        if cycle is None or not cycle.response_started or (cycle.response_complete and not cycle.more_body):
            self.transport.write(_response(status, message))
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _idle_timeout(self) -> None:
        self._timer = None
        if self._in_head and self._raw_head == 0 and not self.transport.is_closing():
            self.transport.close()  # connected and sent nothing: no one to answer

    def _header_timeout(self) -> None:
        self._timer = None
        if not self._in_head or self._raw_head == 0:
            return
        self._reject(408, f"request headers not received within {self.limits.header_timeout_s:g} s")

    def _body_timeout(self) -> None:
        self._timer = None
        if self._in_head:
            return
        if self.flow.read_paused:  # we stopped reading (app busy), not the client: wait on
            self._arm(self.limits.body_timeout_s, self._body_timeout)
            return
        self._reject(408, f"no request body data for {self.limits.body_timeout_s:g} s")

    # -- connection ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            transport.write(_response(503, "too many connections"))
            transport.close()
            self.transport = transport
            return
        super().connection_made(transport)
        self._arm(self.limits.idle_timeout_s, self._idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.flow is None:  # refused in connection_made: never registered
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """uvicorn's ``data_received`` plus the limits (its parser-error handling, with 431 added)."""
        was_in_head = self._in_head
        first = was_in_head and self._raw_head == 0
        if was_in_head:
            self._raw_head += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._too_large:
                self._reject(431, self._too_large)
            else:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            return
        cycle = self.cycle
        if not self._in_head and (cycle is None or not cycle.more_body):
            self._in_head = True  # the message is complete: what comes next is a new head
            self._disarm()
        elif not self._in_head:  # the body is still arriving: (re)start its idle clock
            self._arm(self.limits.body_timeout_s, self._body_timeout)
            return
        if self._raw_head > self.limits.max_header_bytes:
            self._reject(431, f"request line and headers exceed {self.limits.max_header_bytes} bytes")
        elif first and was_in_head and self._raw_head:  # a head began and did not end: start its clock
            self._arm(self.limits.header_timeout_s, self._header_timeout)

    # -- parser callbacks ----------------------------------------------------------------------
    def on_headers_complete(self) -> None:
        limits = self.limits
        if len(self.headers) > limits.max_headers:
            self._too_large = f"more than {limits.max_headers} header fields"
            raise _OverLimit
        if self._raw_head > limits.max_header_bytes:  # possibly over (the read may hold body bytes): measure
            size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
            if size > limits.max_header_bytes:
                self._too_large = f"request line and headers exceed {limits.max_header_bytes} bytes"
                raise _OverLimit
        self._in_head = False
        self._raw_head = 0
        self._disarm()
        super().on_headers_complete()


def protocol_class(limits: Limits) -> type[LimitedHttpToolsProtocol]:
    """A protocol class bound to ``limits``, to pass as ``uvicorn.Config(http=...)``."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
