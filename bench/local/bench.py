"""``mlendpoints local up`` -> first 200, side by side with its floor, in one run.

For each round:

- **local up**: ``mlendpoints local up --detach`` of ``examples/local`` (two deployments and the
  front), then ``mlendpoints online-endpoint invoke --local`` until it answers 200; the time from
  starting ``local up`` to that 200 (what a user waits for), then ``local down``.
- **floor**: one ``mlendpoints serve`` of the same script and model folder, POST /score until 200;
  the time from starting the process to that 200 (one runtime, no front, no CLI around it).

Usage: ``python bench/local/bench.py [--rounds 3]``; prints each round and the medians with their ratio.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "local"
MLE = [sys.executable, "-m", "mlendpoints"]


def local_up_to_first_200(state_dir: str) -> tuple[float, float, float]:
    """``(up -> first 200, up until it returns, one more invoke --local)`` in seconds."""
    env = dict(os.environ, MLENDPOINTS_LOCAL_DIR=state_dir)
    files = [a for f in ("endpoint.yml", "blue.yml", "green.yml") for a in ("-f", str(SAMPLE / f))]
    invoke = [*MLE, "online-endpoint", "invoke", "--local", "-n", "local-demo"]
    invoke += ["--request-file", str(SAMPLE / "request.json")]
    began = time.perf_counter()
    subprocess.run([*MLE, "local", "up", "--detach", *files], env=env, check=True, capture_output=True)
    returned = time.perf_counter() - began
    while subprocess.run(invoke, env=env, capture_output=True).returncode:
        time.sleep(0.05)
    took = time.perf_counter() - began
    again = time.perf_counter()
    subprocess.run(invoke, env=env, check=True, capture_output=True)
    one_invoke = time.perf_counter() - again
    subprocess.run([*MLE, "local", "down", "-n", "local-demo"], env=env, check=True, capture_output=True)
    return took, returned, one_invoke


def serve_to_first_200() -> float:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(
        os.environ,
        AZUREML_MODEL_DIR=str(SAMPLE / "model"),
        AZUREML_SOURCE_DIRECTORY=str(SAMPLE / "src"),
        AZUREML_ENTRY_SCRIPT="score.py",
        MLENDPOINTS_HOST="127.0.0.1",
        MLENDPOINTS_PORT=str(port),
        MLENDPOINTS_SHUTDOWN_DRAIN_MS="0",
    )
    body = (SAMPLE / "request.json").read_bytes()
    began = time.perf_counter()
    proc = subprocess.Popen([*MLE, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}/score", data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - began
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ups, returns, invokes, floors = [], [], [], []
    with tempfile.TemporaryDirectory() as state_dir:
        for i in range(args.rounds):
            took, returned, one_invoke = local_up_to_first_200(state_dir)
            ups.append(took)
            returns.append(returned)
            invokes.append(one_invoke)
            floors.append(serve_to_first_200())
            print(
                f"round {i + 1}: local up -> first 200 {took:.2f}s (up returned after {returned:.2f}s, "
                f"an invoke --local takes {one_invoke:.2f}s)   floor (serve -> first 200) {floors[-1]:.2f}s"
            )
    up, floor = statistics.median(ups), statistics.median(floors)
    print(
        f"median: local up -> first 200 {up:.2f}s (up returns {statistics.median(returns):.2f}s, "
        f"invoke --local {statistics.median(invokes):.2f}s), floor {floor:.2f}s, ratio {up / floor:.2f}x"
    )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
