"""A small Kubernetes REST client (stdlib only): JSON requests, patches and watch streams.

The agent needs a handful of calls and exact control over patch content types (strategic merge
for pod status, as the kubelet sends; server-side apply for Nodes), so it speaks HTTP itself
instead of going through the generated client.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

FIELD_MANAGER = "mlendpoints-nodeagent"
SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"

Obj = dict[str, Any]


class ApiError(RuntimeError):
    """A non-2xx answer; ``status`` is the HTTP code (404, 409, 410 ...)."""

    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]}")
        self.status = status


@dataclass(frozen=True)
class Credentials:
    """Where the apiserver is and how to authenticate (client certificate)."""

    server: str  # https://127.0.0.1:PORT
    ca: str
    cert: str
    key: str


class Kube:
    """Thread-safe: every call opens its own connection (loopback, cheap)."""

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        u = urllib.parse.urlsplit(creds.server)
        self._host, self._port = u.hostname or "127.0.0.1", u.port or 443
        ctx = ssl.create_default_context(cafile=creds.ca)
        ctx.load_cert_chain(creds.cert, creds.key)
        self._ctx = ctx

    def _conn(self, timeout: float | None) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self._host, self._port, context=self._ctx, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> Obj:
        """One request; the parsed JSON answer. Raises :class:`ApiError` on non-2xx."""
        if params:
            path = f"{path}?{urllib.parse.urlencode(params)}"
        conn = self._conn(timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = content_type
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read().decode(errors="replace")
        finally:
            conn.close()
        if resp.status >= 300:
            raise ApiError(resp.status, method, path, raw)
        return json.loads(raw) if raw else {}

    def get(self, path: str, **params: str) -> Obj:
        return self.request("GET", path, params=params or None)

    def apply(self, path: str, obj: Obj) -> Obj:
        """Server-side apply ``obj`` at ``path`` with our field manager (force)."""
        params = {"fieldManager": FIELD_MANAGER, "force": "true"}
        return self.request("PATCH", path, obj, params=params, content_type=APPLY)

    def patch(self, path: str, patch: Obj, content_type: str = SMP) -> Obj:
        return self.request("PATCH", path, patch, content_type=content_type)

    def watch(self, path: str, resource_version: str, **params: str) -> Iterator[Obj]:
        """Watch events (``{"type", "object"}``) from ``resource_version`` until the server ends
        the stream (about 5 min). A 410 Gone (``ERROR`` event or status) raises :class:`ApiError`."""
        q = {"watch": "1", "resourceVersion": resource_version, "allowWatchBookmarks": "true"}
        q["timeoutSeconds"] = "290"
        q.update(params)
        conn = self._conn(timeout=330)
        try:
            conn.request("GET", f"{path}?{urllib.parse.urlencode(q)}", headers={"Accept": "application/json"})
            resp = conn.getresponse()
            if resp.status >= 300:
                raise ApiError(resp.status, "WATCH", path, resp.read().decode(errors="replace"))
            while True:
                line = resp.readline()
                if not line:
                    return
                ev = json.loads(line)
                if ev.get("type") == "ERROR":
                    st = ev.get("object", {})
                    raise ApiError(int(st.get("code", 500)), "WATCH", path, str(st.get("message")))
                yield ev
        finally:
            conn.close()
