"""CPU cost of the runtime's client limits: uvicorn's httptools protocol with and without them.

Feeds the same keep-alive request stream (a scoring-sized POST with typical headers) through
``data_received`` of each protocol class on one event loop, with an in-memory transport and a
minimal ASGI app, and prints CPU microseconds per request side by side (median of rounds,
interleaved so load on the machine hits both alike). No sockets, so it measures the protocol
code only; ``bench.py`` measures whole servers.

    .venv/bin/python bench/runtime/limits_overhead.py [--requests 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from mlendpoints.runtime.limits import Limits, protocol_class

REQUEST = (
    b"POST /score HTTP/1.1\r\nhost: ep.example.com\r\ncontent-type: application/json\r\n"
    b"authorization: Bearer " + b"k" * 43 + b"\r\nx-request-id: 0123456789abcdef\r\n"
    b"user-agent: bench\r\ncontent-length: 27\r\n\r\n"
    b'{"data": [[1, 2, 3, 4.5]]}\n'
)


async def app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = 0
        self.closed = False

    def write(self, data: Any) -> None:
        self.written += 1

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5001) if name in ("sockname", "peername") else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def run(cls: type[HttpToolsProtocol], requests: int) -> float:
    """CPU seconds per request for ``requests`` requests on one connection."""
    config = uvicorn.Config(app, http=cls, lifespan="off", log_config=None, access_log=False)
    config.load()
    proto = cls(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    proto.connection_made(transport)
    started = time.process_time()
    for _ in range(requests):
        proto.data_received(REQUEST)
        while transport.written < 2 * (_ + 1):  # response head + body written
            await asyncio.sleep(0)
    spent = time.process_time() - started
    proto.connection_lost(None)
    return spent / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    limited = protocol_class(Limits())
    results: dict[str, list[float]] = {"uvicorn httptools": [], "with limits": []}
    for _ in range(args.rounds):
        results["uvicorn httptools"].append(asyncio.run(run(HttpToolsProtocol, args.requests)))
        results["with limits"].append(asyncio.run(run(limited, args.requests)))
    print(f"| protocol | CPU µs/request (median of {args.rounds}) | min | max |")
    print("|---|---:|---:|---:|")
    for name, values in results.items():
        us = [v * 1e6 for v in values]
        print(f"| {name} | {statistics.median(us):.2f} | {min(us):.2f} | {max(us):.2f} |")


if __name__ == "__main__":
    main()
