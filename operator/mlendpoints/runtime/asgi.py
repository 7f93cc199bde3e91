"""The few ASGI pieces the runtime needs: a parsed request, a reply, and writing it.

The hot path (``POST /score``) avoids a framework on purpose: Starlette's ``Request`` / ``Response``
objects and router cost ~40 us per request, about a quarter of a fast scoring call on one core. A
request is parsed once into :class:`Request` (headers as a dict, body read with the size limit),
and a reply is two ``send`` calls with a precomputed header list.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from mlendpoints.runtime import errors

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON = b"application/json"
TEXT = b"text/plain; charset=utf-8"


class Reply:
    """A finished response: status, body bytes, content type and extra headers."""

    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        body: bytes,
        status: int = 200,
        content_type: bytes = JSON,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self.body = body
        self.status = status
        self.content_type = content_type
        self.headers = headers or []


class Request:
    """What a handler needs from an HTTP request, parsed once."""

    __slots__ = ("body", "client_request_id", "headers", "method", "path", "query_string", "request_id")

    def __init__(self, scope: Scope, request_id: str, client_request_id: str) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query_string: bytes = scope.get("query_string", b"")
        self.headers: dict[bytes, bytes] = dict(scope["headers"])
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.body = b""

    def header(self, name: str, default: str = "") -> str:
        value = self.headers.get(name.lower().encode("latin-1"))
        return value.decode("latin-1") if value is not None else default

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True))

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";", 1)[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON (400 with the parser's reason when it is not)."""
        return parse_json(self.body)


def parse_json(body: bytes) -> Any:
    import orjson

    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.BadRequest(f"malformed JSON: {exc}") from None


def is_json_type(content_type: bytes | None) -> bool:
    """``application/json``, ``*/*+json`` or no content type at all (curl-style clients)."""
    if not content_type:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == JSON or media.endswith(b"+json")


async def read_body(receive: Receive, limit: int, declared: bytes | None) -> bytes:
    """Read the whole body; 413 as soon as it (or its ``Content-Length``) exceeds ``limit``."""
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise errors.BadRequest("invalid Content-Length header") from None
        if length > limit:
            raise errors.PayloadTooLarge(f"request body of {length} bytes exceeds the {limit}-byte limit")
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise errors.PayloadTooLarge(f"request body exceeds the {limit}-byte limit")
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise errors.BadRequest("client disconnected while sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.PayloadTooLarge(f"request body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def send_reply(send: Send, reply: Reply, common: list[tuple[bytes, bytes]]) -> None:
    headers = [
        (b"content-type", reply.content_type),
        (b"content-length", str(len(reply.body)).encode()),
        *common,
        *reply.headers,
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})


#: longest request id accepted (Azure ML's limit); longer ones get 431
HEADER_LIMIT = 100


def new_request_id() -> str:
    """A random UUID-4-formatted id (about 1 us; ``uuid.uuid4()`` costs 2-3 us)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:32]}"


def request_ids(
    request: Request, raw_id: bytes | None, client_id: bytes | None, common: list[tuple[bytes, bytes]]
) -> None:
    """Adopt the client's ``x-request-id`` and echo ``x-ms-client-request-id`` (431 when too long).

    Ids that are not printable ASCII are ignored (a generated id stays), so they cannot forge log
    lines or response headers.
    """
    for value, name in ((raw_id, "x-request-id"), (client_id, "x-ms-client-request-id")):
        if value is not None and len(value) > HEADER_LIMIT:
            raise errors.HeaderTooLarge(f"{name} must not exceed {HEADER_LIMIT} characters")
    if raw_id:
        text = raw_id.decode("latin-1")
        if text.isascii() and text.isprintable():
            request.request_id = text
    if client_id:
        text = client_id.decode("latin-1")
        if text.isascii() and text.isprintable():
            request.client_request_id = text
            common.append((b"x-ms-client-request-id", client_id))
