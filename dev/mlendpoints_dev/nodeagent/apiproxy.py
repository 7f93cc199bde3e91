"""The API server, reachable from pods: a TCP forwarder on each node address.

kube-apiserver listens on loopback only, and a pod's loopback is its own. The agent listens on
every node's gateway address (``10.X.<n>.1``, which pods reach) at the API server's port and
copies bytes both ways to ``127.0.0.1:<port>``. TLS is end to end (the forwarder never sees
plaintext): the API server's serving certificate also names the node addresses (see
:func:`mlendpoints_dev.processnodes.prepare_network`), so in-cluster clients verify it
with the ServiceAccount's ``ca.crt``. Pods are told where it is by ``KUBERNETES_SERVICE_HOST``
and ``KUBERNETES_SERVICE_PORT`` (:func:`service_env`), and the ``kubernetes`` Service's
endpoints name the first node's address.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading

log = logging.getLogger("nodeagent")


def service_env(host: str, port: int) -> dict[str, str]:
    """The variables a kubelet gives every container for the ``kubernetes`` Service (host, port)."""
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
    }


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class _Forwarder(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    upstream: tuple[str, int]


class _Handler(socketserver.BaseRequestHandler):
    server: _Forwarder

    def handle(self) -> None:
        try:
            up = socket.create_connection(self.server.upstream, timeout=10)
        except OSError as e:
            log.warning("api forwarder: cannot reach %s:%d: %s", *self.server.upstream, e)
            return
        up.settimeout(None)
        back = threading.Thread(target=_pipe, args=(up, self.request), daemon=True)
        back.start()
        _pipe(self.request, up)
        back.join()
        up.close()


def serve(address: str, port: int, upstream_port: int) -> socketserver.ThreadingTCPServer:
    """Forward ``address:port`` to ``127.0.0.1:upstream_port`` from a daemon thread.

    Returns the server (``shutdown()`` stops it). Raises ``OSError`` when the address cannot be
    bound (e.g. the node address is not on the bridge yet).
    """
    server = _Forwarder((address, port), _Handler)
    server.upstream = ("127.0.0.1", upstream_port)
    threading.Thread(target=server.serve_forever, name=f"apiproxy-{address}", daemon=True).start()
    return server
