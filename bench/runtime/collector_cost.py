"""CPU cost of payload collection per record, measured in-process (robust to a busy machine).

The HTTP benchmark (``bench.py --configs ours-script,ours-script-collect``) compares whole
servers; on a shared machine its p99 moves by tens of milliseconds between identical runs. This
script isolates what collection adds: the request-path ``Collector.offer`` (one sampling draw and
one ``deque.append``) and the writer thread's work per record (JSON parsing, column extraction,
two JSON lines, file writes), as CPU seconds of this process (``time.process_time``, all threads),
for the bench's 1-row ``{"data": [[...]]}`` body and its response.

    .venv/bin/python bench/runtime/collector_cost.py [--records 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from mlendpoints.runtime import config
from mlendpoints.runtime.collector import Collector, Item
from mlendpoints.runtime.metrics import Registry

BODY = b'{"data": [[0.038, -0.044, 0.061, 0.021, -0.044, -0.034, -0.043, -0.002, 0.019, -0.017]]}'
REPLY = b"[206.11706979]"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument(
        "--server-cpu-us",
        type=float,
        default=162.0,
        help="the server's CPU us per request on this machine now (bench.py's cpu/req for ours-script; "
        "default: docs/performance.md, c=8, a quiet machine)",
    )
    args = parser.parse_args()
    n = args.records
    with tempfile.TemporaryDirectory() as folder:
        settings = config.from_env(
            {}, collector_enabled=True, collector_destination=f"file://{folder}", collector_queue_size=n + 1
        )
        collector = Collector(settings, Registry())
        items = [
            Item(
                time.time(),
                f"req-{i}",
                "/score",
                200,
                0.001,
                BODY,
                b"application/json",
                REPLY,
                b"application/json",
            )
            for i in range(n)
        ]
        start = time.process_time()
        for item in items:
            collector.offer(item)
        offered = time.process_time()
        collector.start()
        collector.close(timeout_s=300)
        done = time.process_time()
    path_us = (offered - start) / n * 1e6
    writer_us = (done - offered) / n * 1e6
    print(f"records: {n}")
    print(f"request path (offer):        {path_us:6.2f} us CPU per request")
    print(f"writer thread (both files):  {writer_us:6.2f} us CPU per request")
    print(f"total:                       {path_us + writer_us:6.2f} us CPU per request")
    share = (path_us + writer_us) / args.server_cpu_us
    print(f"server CPU per request (--server-cpu-us): {args.server_cpu_us:.0f} us")
    print(f"=> collection adds {share:.1%} CPU per request (target <= 10%); measure both on the same machine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
