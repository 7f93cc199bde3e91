"""Header bombs against the runtime as it is served (``server.uvicorn_config``): raw sockets, real uvicorn.

Each bomb (one huge header, many small headers, a long request line, a head that trickles in,
a body that stops) must be answered 431/408 and its connection closed, before authentication,
while liveness (``GET /``) keeps answering on another connection. Bounds on time here are
generous behaviour checks (a hung server fails them), not benchmarks.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mlendpoints.runtime import server as runtime_server
from mlendpoints.runtime.app import create_app
from tests.runtime.conftest import LOAD_TIMEOUT_S, settings_for, wait_until

pytestmark = pytest.mark.timeout(120)

#: liveness must answer within this while a bomb is in flight (the issue's bound)
LIVENESS_BOUND_S = 0.1


class Served:
    """The runtime under ``server.uvicorn_config`` (the production wiring) in a thread."""

    def __init__(self, **fields: Any) -> None:
        import uvicorn

        self.settings = settings_for(**fields)
        self.app = create_app(self.settings)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = runtime_server.uvicorn_config(self.app, self.settings)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> None:
        self.thread.start()
        wait_until(lambda: self.server.started, LOAD_TIMEOUT_S)
        wait_until(lambda: self.app.model.state != "loading", LOAD_TIMEOUT_S)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=20)

    def liveness_seconds(self) -> float:
        """Time for a fresh connection's ``GET /``, as a kubelet probe does it (asserts 200)."""
        started = time.perf_counter()
        with self.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: probe\r\nconnection: close\r\n\r\n")
            status, _ = read_response(sock)
        assert status == 200
        return time.perf_counter() - started


@pytest.fixture
def served() -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def make(**fields: Any) -> Served:
        fields.setdefault("entry_script", "score_control.py")
        fields.setdefault("auth_key_dir", None)
        srv = Served(**fields)
        srv.start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and everything the server sent until it closed the connection."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 "), data[:200]
    return int(data.split(b" ", 2)[1]), data


def send_quietly(sock: socket.socket, payload: bytes) -> None:
    """Send; the server may close early (that is the point), which is not an error here."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(payload)


def bomb_in_background(send: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_one_huge_header_is_431_and_liveness_stays_fast(served: Callable[..., Served]) -> None:
    srv = served()
    sock = srv.connect()
    sock.sendall(b"POST /score HTTP/1.1\r\nhost: x\r\nx-bomb: ")
    stop = threading.Event()

    def stream() -> None:  # up to 100 MiB, as in the issue; the server must cut it off early
        chunk = b"a" * 65536
        with contextlib.suppress(OSError):
            for _ in range(1600):
                if stop.is_set():
                    return
                sock.sendall(chunk)

    thread = bomb_in_background(stream)
    assert srv.liveness_seconds() < LIVENESS_BOUND_S
    status, data = read_response(sock)
    stop.set()
    thread.join(10)
    assert status == 431
    assert b"exceed 32768 bytes" in data
    assert srv.liveness_seconds() < LIVENESS_BOUND_S


def test_many_small_headers_are_431(served: Callable[..., Served]) -> None:
    srv = served()
    sock = srv.connect()
    headers = b"".join(b"x-h%d: 1\r\n" % i for i in range(101))
    send_quietly(sock, b"GET / HTTP/1.1\r\nhost: x\r\n" + headers + b"\r\n")
    status, data = read_response(sock)
    assert status == 431
    assert b"more than 100 header fields" in data
    # the limit is configurable
    srv2 = served(max_headers=200)
    sock2 = srv2.connect()
    send_quietly(sock2, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n" + headers + b"\r\n")
    assert read_response(sock2)[0] == 200


def test_long_request_line_is_431_and_sizes_are_configurable(served: Callable[..., Served]) -> None:
    srv = served(max_header_bytes=4096)
    sock = srv.connect()
    send_quietly(sock, b"GET /?q=" + b"a" * 5000 + b" HTTP/1.1\r\nhost: x\r\n\r\n")
    status, data = read_response(sock)
    assert status == 431
    assert b"4096" in data
    # under the limit the same server answers normally
    ok = httpx.get(f"http://127.0.0.1:{srv.port}/?q=" + "a" * 3000, timeout=5)
    assert ok.status_code == 200


def test_slow_headers_are_408_and_liveness_stays_fast(served: Callable[..., Served]) -> None:
    srv = served(header_timeout_ms=1000)
    socks = []
    for _ in range(50):  # slowloris: many connections, each trickling a head that never ends
        sock = srv.connect()
        sock.sendall(b"POST /score HTTP/1.1\r\nhost: x\r\n")
        socks.append(sock)
    started = time.monotonic()
    for _ in range(3):
        for sock in socks:
            send_quietly(sock, b"x-slow: 1\r\n")
        assert srv.liveness_seconds() < LIVENESS_BOUND_S
        time.sleep(0.2)
    for sock in socks:
        status, data = read_response(sock)
        assert status == 408, data
        assert b"request headers not received within 1 s" in data
    assert time.monotonic() - started < 10  # cut off at the timeout, not held open
    assert srv.liveness_seconds() < LIVENESS_BOUND_S


def test_idle_connection_without_a_request_is_closed_after_the_keep_alive(
    served: Callable[..., Served],
) -> None:
    srv = served(header_timeout_ms=200, keep_alive_ms=1000)
    sock = srv.connect()
    started = time.monotonic()
    assert sock.recv(100) == b""  # closed by the server, nothing to answer
    assert time.monotonic() - started >= 0.9  # at the keep-alive, not at the header timeout


def test_connection_a_gateway_dialed_ahead_is_served_after_the_header_timeout(
    served: Callable[..., Served],
) -> None:
    """Go's transport (Traefik) pools a dialed connection its request did not wait for and sends
    on it later, up to its own idle timeout: until our keep-alive it must be served, not closed."""
    srv = served(header_timeout_ms=200, keep_alive_ms=5000)
    sock = srv.connect()
    time.sleep(0.6)  # three header timeouts, idle
    sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_stalled_body_is_408_before_the_app_reads_it(served: Callable[..., Served]) -> None:
    srv = served(body_timeout_ms=500)
    sock = srv.connect()
    sock.sendall(
        b"POST /score HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"
    )
    status, data = read_response(sock)
    assert status == 408
    assert b"no request body data" in data
    assert srv.liveness_seconds() < LIVENESS_BOUND_S


def test_limits_apply_before_authentication(served: Callable[..., Served], tmp_path: Any) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "primaryKey").write_text("k1")
    (keys / "secondaryKey").write_text("k2")
    srv = served(auth_key_dir=str(keys))
    sock = srv.connect()
    send_quietly(sock, b"POST /score HTTP/1.1\r\nhost: x\r\nx-bomb: " + b"a" * 40000 + b"\r\n\r\n")
    assert read_response(sock)[0] == 431  # not 401: the head never reached the app


def test_connections_beyond_the_cap_get_503(served: Callable[..., Served]) -> None:
    srv = served(max_connections=5)
    held = [srv.connect() for _ in range(5)]
    for sock in held:  # make sure all five are accepted (and counted) before the sixth
        sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
    extra = srv.connect()
    status, data = read_response(extra)
    assert status == 503
    assert b"too many connections" in data
    held[0].close()
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{srv.port}/", timeout=5).status_code == 200)
    for sock in held[1:]:
        sock.close()


def test_normal_requests_and_keep_alive_are_unaffected(served: Callable[..., Served]) -> None:
    srv = served(header_timeout_ms=1000)
    with httpx.Client(base_url=f"http://127.0.0.1:{srv.port}", timeout=5) as client:
        for i in range(20):
            response = client.post("/score", json={"i": i}, headers={"x-pad": "p" * 8000})
            assert response.status_code == 200, response.text
        time.sleep(1.5)  # longer than the header timeout: an idle keep-alive connection is not a slow head
        assert client.post("/score", json={"i": 99}).status_code == 200
