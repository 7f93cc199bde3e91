"""The local front: one port for an endpoint, in front of its deployments' runtime processes.

What Azure ML's router (and the cluster's HTTPRoute, see :mod:`mlendpoints.render.httproute`) does,
in this order:

1. keys (``authMode: key``): ``Authorization: Bearer <primary or secondary key>``, else 401; the
   check is the runtime's own :class:`~mlendpoints.runtime.auth.KeyStore` on the endpoint's keys folder;
2. ``azureml-model-deployment: D`` sends to D whatever its weight (0 % included); a D that is not
   a deployment of the endpoint gets 404 naming the deployments there are;
3. otherwise one deployment drawn by weight (:func:`random.choices`); with no weight above 0, 404
   saying to pin a deployment;
4. mirror traffic: ``mirrorTraffic`` percent of unpinned requests are copied to the mirror
   deployment in the background, and its answer is dropped.

Requests are forwarded whole (body read, then sent) with httpx, in the ~30 lines of
:meth:`Front._handle`/:meth:`Front._send`: the proxy libraries on PyPI (asgiproxy 0.2, on aiohttp and
Starlette) would add two dependencies for that and still leave keys, pins and weights to us; the answer carries
``azureml-model-deployment: <deployment that served it>`` as Azure's does. The front's own errors
are JSON ``{"error": ..., "code": ...}``, the runtime's shape. Run it with
``python -m mlendpoints.local.front STATE_DIR ENDPOINT`` (``local up`` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
from pathlib import Path
from typing import Any

import httpx

from mlendpoints.api import contract
from mlendpoints.local import state
from mlendpoints.runtime.asgi import Receive, Scope, Send
from mlendpoints.runtime.auth import KeyStore

PIN_HEADER = contract.DEPLOYMENT_HEADER.encode()
#: hop-by-hop headers (RFC 9110 §7.6.1) and those httpx sets itself
_DROP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"upgrade", b"host", b"content-length"}
#: and from answers: the body is sent decoded, whole, with its own length
_DROP_ANSWER = _DROP | {b"content-encoding", PIN_HEADER}  # the front sets the deployment header


class Front:
    """The ASGI app; ``rng`` is injectable so a test can seed the weighted choice."""

    def __init__(self, ep: state.LocalEndpoint, keys_dir: Path | None, rng: random.Random | None = None):
        self.ep = ep
        self.keys = KeyStore(str(keys_dir) if ep.auth_mode == "key" and keys_dir else None)
        self.rng = rng or random.Random()
        self.client: httpx.AsyncClient | None = None
        self._weighted = [(n, w) for n, w in ep.traffic.items() if w > 0]
        self._background: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._handle(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = httpx.AsyncClient(timeout=60.0, follow_redirects=False)  # per request: _send
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def choose(self, pin: str | None) -> tuple[str | None, str]:
        """``(deployment, "")`` for a request with pin header value ``pin``, or ``(None, why)`` for 404."""
        if pin is not None:
            if pin in self.ep.deployments:
                return pin, ""
            there = ", ".join(sorted(self.ep.deployments))
            return None, f"deployment {pin!r} does not exist in endpoint {self.ep.name} (it has: {there})"
        if not self._weighted:
            return None, (
                f"endpoint {self.ep.name} sends no traffic to any deployment; pin one with the "
                "azureml-model-deployment header, or set traffic"
            )
        names, weights = zip(*self._weighted, strict=True)
        return self.rng.choices(names, weights)[0], ""

    def mirror_to(self, pinned: bool) -> str | None:
        """The mirror deployment this request is copied to, if the draw says so (never for pinned ones)."""
        for name, percent in self.ep.mirror_traffic.items():
            if not pinned and percent > 0 and self.rng.random() * 100 < percent:
                return name
        return None

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        lookup = {k.lower(): v for k, v in headers}
        if not self.keys.check(lookup.get(b"authorization")):
            await _reply(send, 401, "Unauthorized", "a valid key is required: Authorization: Bearer <key>")
            return
        pin = lookup.get(PIN_HEADER)
        name, why = self.choose(pin.decode(errors="replace") if pin is not None else None)
        if name is None:
            await _reply(send, 404, "NotFound", why)
            return
        body = await _read_body(receive)
        forward = [(k, v) for k, v in headers if k.lower() not in _DROP]
        mirror = self.mirror_to(pin is not None)
        if mirror is not None:
            task = asyncio.create_task(self._mirror(mirror, scope, forward, body))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        try:
            resp = await self._send(name, scope, forward, body)
        except httpx.HTTPError as exc:
            await _reply(
                send,
                502,
                "BadGateway",
                f"deployment {name} did not answer ({type(exc).__name__}); see its log",
            )
            return
        out = [(k.lower(), v) for k, v in resp.headers.raw if k.lower() not in _DROP_ANSWER]
        out += [(b"content-length", str(len(resp.content)).encode()), (PIN_HEADER, name.encode())]
        await send({"type": "http.response.start", "status": resp.status_code, "headers": out})
        await send({"type": "http.response.body", "body": resp.content})

    async def _send(
        self, name: str, scope: Scope, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> httpx.Response:
        assert self.client is not None  # set at lifespan startup
        dep = self.ep.deployments[name]
        query = scope.get("query_string") or b""
        url = f"http://127.0.0.1:{dep.port}{scope['path']}" + (f"?{query.decode()}" if query else "")
        return await self.client.request(
            scope["method"], url, headers=headers, content=body, timeout=dep.timeout_s
        )

    async def _mirror(self, name: str, scope: Scope, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the answer is dropped, as a mirror's is
            await self._send(name, scope, headers, body)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _reply(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": message, "code": code}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="mlendpoints"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str]) -> int:
    """``python -m mlendpoints.local.front STATE_DIR ENDPOINT``: serve until SIGTERM/SIGINT."""
    import uvicorn

    root, name = Path(argv[0]), argv[1]
    ep = state.read(root, name)
    app: Any = Front(ep, state.keys_dir(root, name))
    uvicorn.run(
        app,
        host=ep.host,
        port=ep.port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        server_header=False,  # the deployment's own headers (date included) pass through
        date_header=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
