"""A static HTTPS file server on the host, for ``https://`` model and code sources on the dev cluster.

Run by ``mlendpoints dev cluster up`` as ``python -m mlendpoints_dev.fileserver``: it
serves ``<state>/files/`` with folder listings (the standard library's ``SimpleHTTPRequestHandler``,
whose index pages the storage initializer's folder download reads) over TLS, with a serving
certificate signed by the cluster CA for the address it listens on.

Clients trust it through the CA: the ``dev-files-ca`` Secret carries ``SSL_CERT_FILE`` (Python's
``ssl`` default context and ``urllib`` read it), so a deployment whose ``model.credentialsSecretRef``
names that Secret fetches from here with certificate verification on, as it would from a real
server. Nothing is served with verification off.
"""

from __future__ import annotations

import argparse
import functools
import ssl
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: Secret whose ``SSL_CERT_FILE`` points the storage initializer at the cluster CA.
SECRET_NAME = "dev-files-ca"


class _Handler(SimpleHTTPRequestHandler):
    """Quiet (one line per request to the log), read-only."""

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def serve(root: Path, host: str, port: int, cert: Path | None, key: Path | None) -> None:
    """Serve ``root`` on ``host:port`` until killed (TLS when ``cert``/``key`` are given)."""
    root.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_Handler, directory=str(root))
    httpd = ThreadingHTTPServer((host, port), handler)
    if cert is not None and key is not None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(cert), str(key))
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    scheme = "https" if cert else "http"
    print(f"serving {root} at {scheme}://{host}:{port}/", file=sys.stderr, flush=True)
    httpd.serve_forever()


def secret_manifest(ca_file: Path, namespace: str | None = None) -> dict[str, object]:
    """The ``dev-files-ca`` Secret (``SSL_CERT_FILE=<cluster CA>``) for ``credentialsSecretRef``.

    The path is a host path: pods on the dev cluster's process nodes see the host's files.
    """
    meta: dict[str, object] = {
        "name": SECRET_NAME,
        "labels": {
            "app.kubernetes.io/part-of": "mlendpoints-devcluster",
            "mlendpoints.io/allow-reference": "true",
        },
    }
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
            "stringData": {"SSL_CERT_FILE": str(ca_file)}}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``python -m mlendpoints_dev.fileserver --root DIR --host H --port P [--cert C --key K]``."""
    p = argparse.ArgumentParser(prog="mlendpoints-dev-fileserver", description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, type=Path)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", type=Path)
    p.add_argument("--key", type=Path)
    a = p.parse_args(argv)
    try:
        serve(a.root, a.host, a.port, a.cert, a.key)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
