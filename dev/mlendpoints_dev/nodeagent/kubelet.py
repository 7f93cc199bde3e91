"""The part of the kubelet API the apiserver calls for ``kubectl logs``: ``/containerLogs``.

``GET /containerLogs/<namespace>/<pod>/<container>?follow=&previous=&tailLines=&limitBytes=``
on ``https://<node InternalIP>:<daemonEndpoints.kubeletEndpoint.Port>``, TLS with a serving cert
from the cluster CA, clients must present a cert from the same CA (the apiserver's
``--kubelet-client-certificate``). ``timestamps`` and ``sinceSeconds`` are not supported (logs
are stored raw); they are ignored.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger("nodeagent")

#: (namespace, pod, container or None, previous) -> (log file, still being written) or an error text
LogFinder = Callable[[str, str, str | None, bool], tuple[Path, Callable[[], bool]] | str]


def _tail(data: bytes, q: dict[str, str]) -> bytes:
    """``data`` cut as the kubelet does: its last ``tailLines`` lines, then its first ``limitBytes`` bytes."""
    if "tailLines" in q:
        n = int(q["tailLines"])
        lines = data.splitlines(keepends=True)
        data = b"".join(lines[-n:]) if n > 0 else b""
    if "limitBytes" in q:
        data = data[: int(q["limitBytes"])]
    return data


class _LogsHandler(BaseHTTPRequestHandler):
    """``/healthz`` and ``/containerLogs``; :func:`_handler` binds the log finder (one instance per request)."""

    protocol_version = "HTTP/1.1"

    def _find(
        self, namespace: str, pod: str, container: str | None, previous: bool
    ) -> tuple[Path, Callable[[], bool]] | str:
        raise NotImplementedError

    def log_message(self, format: str, *args: object) -> None:
        log.debug("kubelet api: " + format, *args)

    def _fail(self, code: int, text: str) -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        if parts == ["healthz"]:
            return self._fail(200, "ok")
        if len(parts) not in (3, 4) or parts[0] != "containerLogs":
            return self._fail(404, f"not found: {url.path}")
        container = parts[3] if len(parts) == 4 else None
        found = self._find(parts[1], parts[2], container, q.get("previous") == "true")
        if isinstance(found, str):
            return self._fail(404 if "not found" in found else 400, found)
        path, alive = found
        self._stream(path, alive, q)

    def _stream(self, path: Path, alive: Callable[[], bool], q: dict[str, str]) -> None:
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        data = _tail(data, q)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        if q.get("follow") != "true":
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._follow(path, alive, data)

    def _follow(self, path: Path, alive: Callable[[], bool], data: bytes) -> None:
        """Send ``data``, then what is appended to ``path`` (polled every 0.2 s) until ``alive()`` is False."""
        offset = path.stat().st_size if path.exists() else 0
        try:
            self._chunk(data)
            while True:
                size = path.stat().st_size if path.exists() else 0
                if size > offset:
                    with path.open("rb") as fh:
                        fh.seek(offset)
                        chunk = fh.read(size - offset)
                    offset = size
                    self._chunk(chunk)
                elif not alive():
                    break
                else:
                    time.sleep(0.2)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return

    def _chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()


def _handler(find: LogFinder) -> type[BaseHTTPRequestHandler]:
    """The handler class of one server, answering from ``find``."""

    class Handler(_LogsHandler):
        def _find(
            self, namespace: str, pod: str, container: str | None, previous: bool
        ) -> tuple[Path, Callable[[], bool]] | str:
            return find(namespace, pod, container, previous)

    return Handler


def serve(address: str, port: int, cert: Path, key: Path, ca: Path, find: LogFinder) -> ThreadingHTTPServer:
    """Start the HTTPS server on ``address:port`` in a daemon thread; returns it (``shutdown()`` stops it)."""
    server = ThreadingHTTPServer((address, port), _handler(find))
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    ctx.load_verify_locations(cafile=str(ca))
    ctx.verify_mode = ssl.CERT_REQUIRED
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, name=f"kubelet-{address}", daemon=True).start()
    return server
