"""CPU per request of the runtime's JSON path, in process (no HTTP server, no wrk).

Drives the ASGI app directly (one request at a time, like c=1) and reports the process CPU time
per request: the request path (routing, request id, auth, content type, body, queue, worker hand-off,
``run``/``predict``, encoding) without the HTTP parser and the socket. On a busy machine this is far
steadier than ``bench.py`` (whose wrk numbers move ±20% with other load); use it to compare two
versions of the code:

    python bench/runtime/inproc.py --config script --requests 3000 --rounds 5
    PYTHONPATH=/path/to/other/checkout/operator python bench/runtime/inproc.py --config script

Needs the files ``bench.py`` prepares (``BENCH_WORK``, default /tmp/mlendpoints-bench/model: run
``python3 bench/runtime/bench.py --configs ours-script --conc 1 --rows 1 --duration 1`` once). Prints
one line per round and the minimum and median (µs CPU per request); the minimum is the figure least
disturbed by other processes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/mlendpoints-bench")) / "model"


def _app(config: str) -> Any:
    from mlendpoints.runtime import config as runtime_config
    from mlendpoints.runtime.app import create_app

    fields: dict[str, Any] = {"host": "127.0.0.1"}
    if config == "script":
        fields |= {"model_dir": str(WORK), "source_dir": str(HERE / "servers"), "entry_script": "score.py"}
    else:
        fields |= {"model_dir": str(WORK / "mlflow-tensor")}
    return create_app(runtime_config.from_env({}, **fields))


async def _measure(app: Any, body: bytes, requests: int) -> float:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/score",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for _ in range(200):  # warm-up
        await app.handle(scope, receive, send)
    statuses.clear()
    started = time.process_time()
    for _ in range(requests):
        await app.handle(scope, receive, send)
    elapsed = time.process_time() - started
    assert set(statuses) == {200}, set(statuses)
    return elapsed / requests * 1e6


async def _main(args: argparse.Namespace) -> None:
    app = _app(args.config)
    app.start()
    assert await app.wait_loaded(120), app.model.error
    payload = "azureml" if args.config == "script" else "input_data"
    body = (WORK / "payloads" / f"{payload}_{args.rows}.json").read_bytes()
    results = []
    for index in range(args.rounds):
        results.append(await _measure(app, body, args.requests))
        print(f"round {index + 1}: {results[-1]:.1f} us CPU/request", flush=True)
    app.scheduler.pool.stop()
    print(f"{args.config}: min {min(results):.1f} us, median {statistics.median(results):.1f} us CPU/request")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", choices=("script", "mlflow"), default="script")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, choices=(1, 100), default=1, help="payload rows")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
