"""``mlendpoints profile``: load-test a deployment's model locally and recommend its sizing.

Starts ``mlendpoints serve`` for the OnlineDeployment in ``-f`` (its model and scoring script,
fetched like the storage initializer does, or ``--model-dir``/``--code-dir``), on a free
127.0.0.1 port, with ``maxConcurrentRequestsPerInstance`` raised to the highest level tested so
the runtime's own limit does not shape the curve. It then drives it with a closed loop of N
clients for ``--duration`` seconds at each concurrency in ``--concurrency`` (bounded, loopback
only) and measures req/s, latency percentiles, errors, the server's CPU seconds per request
(``/proc/<pid>/stat``) and its peak RSS (``VmHWM``). Linux only.

The recommendation (also in ``docs/monitoring.md``):

- operating point: the level with the most req/s among those without errors whose p99 is within
  ``--p99-ms`` (without a target: the most req/s overall);
- ``maxConcurrentRequestsPerInstance`` = that level's concurrency;
- CPU request = CPU s/req x req/s at that point (cores), x 1.2 headroom, rounded up to 100m;
- memory request = peak RSS x 1.25, rounded up to 64 MiB (limit: 2 x the request);
- ``instanceCount`` = ceil(target req/s / (0.7 x req/s at that point)): instances run at 70% of
  their measured capacity, so one can fail or a burst can land; at least 1 (Azure recommends 3
  for production).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HEADROOM_CPU = 1.2
HEADROOM_MEMORY = 1.25
UTILISATION = 0.7
MAX_CONCURRENCY = 64


class ProfileError(Exception):
    """A clear, one-line reason the profile cannot run (bad file, model that does not start...)."""


@dataclass
class Level:
    concurrency: int
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    cpu_s_per_request: float
    peak_rss_mib: float


@dataclass
class Recommendation:
    concurrency: int
    instance_count: int
    cpu: str
    memory: str
    memory_limit: str
    max_concurrent_requests_per_instance: int
    meets_p99: bool
    note: str


def _request(path: Path) -> tuple[bytes, str]:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"--request-file {path}: {exc.strerror or exc}") from None
    if not body.strip():
        raise ProfileError(f"--request-file {path}: the file is empty")
    try:
        json.loads(body)
    except ValueError as exc:
        raise ProfileError(f"--request-file {path}: not valid JSON ({exc})") from None
    return body, "application/json"


def _deployment(path: Path) -> Any:
    import yaml
    from pydantic import ValidationError

    from mlendpoints.api import errors
    from mlendpoints.api.v1alpha1 import OnlineDeployment

    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"-f {path}: {exc}") from None
    found = [d for d in docs if d.get("kind") == "OnlineDeployment"]
    if len(found) != 1:
        raise ProfileError(f"-f {path}: expected one OnlineDeployment, found {len(found)}")
    try:
        return OnlineDeployment.model_validate(found[0])
    except ValidationError as exc:
        raise ProfileError(f"-f {path}: {errors.validation_message(exc)}") from None


def _local(uri: str | None, override: str | None, scratch: Path, what: str) -> str | None:
    if override:
        return str(Path(override).resolve())
    if uri is None:
        return None
    from mlendpoints.storage.errors import FetchError
    from mlendpoints.storage.fetch import fetch

    dest = scratch / what
    try:
        fetch(uri, dest)
    except FetchError as exc:
        raise ProfileError(f"{what}: {exc} (pass --{what}-dir with a local copy)") from None
    return str(dest)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def serve(
    dep: Any, model_dir: str | None, code_dir: str | None, concurrency: int
) -> Iterator[tuple[int, int]]:
    """``(pid, port)`` of a running ``mlendpoints serve`` for ``dep``; stopped on exit."""
    port = _free_port()
    req = dep.spec.request_settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLENDPOINTS_", "AZUREML_"))}
    env |= dict(dep.spec.environment_variables)
    env |= {
        "MLENDPOINTS_HOST": "127.0.0.1",
        "MLENDPOINTS_PORT": str(port),
        "MLENDPOINTS_LOG_LEVEL": "WARNING",
        "MLENDPOINTS_MAX_CONCURRENT_REQUESTS": str(concurrency),
        "MLENDPOINTS_REQUEST_TIMEOUT_MS": str(req.request_timeout_ms),
        "MLENDPOINTS_MAX_QUEUE_WAIT_MS": str(max(req.max_queue_wait_ms, 5000)),
        "MLENDPOINTS_MODEL_TYPE": "mlflow"
        if dep.spec.model and dep.spec.model.type == "mlflow"
        else "custom",
    }
    if model_dir:
        env["AZUREML_MODEL_DIR"] = model_dir
    if dep.spec.code_configuration is not None:
        if not code_dir:
            raise ProfileError("codeConfiguration.configMap: pass --code-dir with the scoring code")
        env["AZUREML_SOURCE_DIRECTORY"] = code_dir
        env["AZUREML_ENTRY_SCRIPT"] = dep.spec.code_configuration.scoring_script
    log = tempfile.TemporaryFile()  # noqa: SIM115 -- closed in the finally below
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlendpoints", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_ready(proc, port, log)
        yield proc.pid, port
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Any) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            tail = log.read().decode(errors="replace").strip().splitlines()[-5:]
            raise ProfileError("the runtime exited during start-up: " + " | ".join(tail))
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        time.sleep(0.2)
    raise ProfileError("the model did not become ready within 120 s")


def _worker(port: int, body: bytes, ctype: str, until: float, out: list[float], errors: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": ctype}
    while time.monotonic() < until:
        start = time.perf_counter()
        try:
            conn.request("POST", "/score", body, headers)
            response = conn.getresponse()
            response.read()
            ok = response.status == 200
        except OSError:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            ok = False
        if ok:
            out.append(time.perf_counter() - start)
        else:
            errors.append(1)
    conn.close()


def measure(pid: int, port: int, body: bytes, ctype: str, concurrency: int, duration: float) -> Level:
    """One closed-loop load level of ``concurrency`` clients for ``duration`` seconds."""
    import numpy as np

    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[int] = []
    cpu0, t0 = _proc_cpu_s(pid), time.monotonic()
    until = t0 + duration
    threads = [
        threading.Thread(target=_worker, args=(port, body, ctype, until, latencies[i], errors), daemon=True)
        for i in range(concurrency)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 60)
    elapsed, cpu = time.monotonic() - t0, _proc_cpu_s(pid) - cpu0
    all_ms = np.array([x for lat in latencies for x in lat]) * 1000
    served = len(all_ms) + len(errors)
    p50, p90, p99 = np.percentile(all_ms, [50, 90, 99]) if len(all_ms) else (math.nan,) * 3
    return Level(
        concurrency, len(all_ms), len(errors), len(all_ms) / elapsed, float(p50), float(p90), float(p99),
        cpu / served if served else math.nan, _peak_rss_mib(pid),
    )  # fmt: skip


def _millicores(cores: float) -> str:
    return f"{max(100, math.ceil(cores * 10) * 100)}m"


def _mebibytes(mib: float) -> str:
    return f"{max(64, math.ceil(mib / 64) * 64)}Mi"


def recommend(levels: list[Level], target_rps: float | None, p99_ms: float | None) -> Recommendation:
    """The sizing rule of the module docstring."""
    clean = [lv for lv in levels if lv.errors == 0 and lv.requests > 0] or levels
    fitting = [lv for lv in clean if p99_ms is None or lv.p99_ms <= p99_ms]
    meets = bool(fitting)
    best = max(fitting or clean, key=lambda lv: lv.rps)
    count = max(1, math.ceil(target_rps / (UTILISATION * best.rps))) if target_rps else 1
    memory = max(lv.peak_rss_mib for lv in levels) * HEADROOM_MEMORY
    note = (
        ""
        if meets
        else f"no level met p99 <= {p99_ms} ms; the fastest p99 was {min(lv.p99_ms for lv in clean):.1f} ms"
    )
    return Recommendation(
        concurrency=best.concurrency,
        instance_count=count,
        cpu=_millicores(best.cpu_s_per_request * best.rps * HEADROOM_CPU),
        memory=_mebibytes(memory),
        memory_limit=_mebibytes(2 * memory),
        max_concurrent_requests_per_instance=best.concurrency,
        meets_p99=meets,
        note=note,
    )


def table(levels: list[Level]) -> str:
    head = f"{'conc':>5} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU ms/req':>11} {'peak RSS MiB':>13}"
    rows = [
        f"{lv.concurrency:>5} {lv.rps:>9.1f} {lv.p50_ms:>8.2f} {lv.p90_ms:>8.2f} {lv.p99_ms:>8.2f} "
        f"{lv.errors:>7} {lv.cpu_s_per_request * 1000:>11.3f} {lv.peak_rss_mib:>13.1f}"
        for lv in levels
    ]
    return "\n".join([head, *rows])


def plot(levels: list[Level], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = [lv.concurrency for lv in levels]
    ax.plot(xs, [lv.rps for lv in levels], "o-", label="req/s")
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("req/s")
    ax.set_xscale("log", base=2)
    ax2 = ax.twinx()
    ax2.plot(xs, [lv.p99_ms for lv in levels], "s--", color="tab:red", label="p99 ms")
    ax2.set_ylabel("p99 latency (ms)")
    fig.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mlendpoints profile", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    p.add_argument("-f", "--file", required=True, type=Path, help="OnlineDeployment manifest")
    p.add_argument("--request-file", required=True, type=Path, help="a sample request body (JSON)")
    p.add_argument("--target-rps", type=float, help="requests per second the deployment must serve")
    p.add_argument("--p99-ms", type=float, help="p99 latency target in milliseconds")
    p.add_argument(
        "--concurrency", default="1,2,4,8", help=f"levels, comma-separated (each <= {MAX_CONCURRENCY})"
    )
    p.add_argument("--duration", type=float, default=5.0, help="seconds per level (default 5)")
    p.add_argument("--model-dir", help="local model folder instead of fetching model.path")
    p.add_argument("--code-dir", help="local code folder instead of fetching codeConfiguration.code")
    p.add_argument("--output", default="profile", help="writes OUTPUT.json and OUTPUT.png (default: profile)")
    return p


def _levels(text: str) -> list[int]:
    try:
        levels = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ProfileError(f"--concurrency {text!r}: use comma-separated integers") from None
    if not levels or levels[0] < 1 or levels[-1] > MAX_CONCURRENCY:
        raise ProfileError(f"--concurrency: levels must be between 1 and {MAX_CONCURRENCY}")
    return levels


def run(args: argparse.Namespace) -> dict[str, Any]:
    body, ctype = _request(args.request_file)
    levels = _levels(args.concurrency)
    dep = _deployment(args.file)
    scratch = Path(tempfile.mkdtemp(prefix="mlendpoints-profile-"))
    try:
        model = _local(dep.spec.model.path if dep.spec.model else None, args.model_dir, scratch, "model")
        code_cfg = dep.spec.code_configuration
        code = _local(code_cfg.code if code_cfg else None, args.code_dir, scratch, "code")
        with serve(dep, model, code, levels[-1]) as (pid, port):
            # one request first: a sample the model rejects is an error, not a load test of 4xx
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/score", body, {"Content-Type": ctype})
            response = conn.getresponse()
            if response.status != 200:
                raise ProfileError(
                    f"the sample request got {response.status}: {response.read()[:300].decode(errors='replace')}"
                )
            conn.close()
            results = [measure(pid, port, body, ctype, c, args.duration) for c in levels]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rec = recommend(results, args.target_rps, args.p99_ms)
    return {"levels": [asdict(lv) for lv in results], "recommendation": asdict(rec), "_levels": results}


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        out = run(args)
    except ProfileError as exc:
        print(f"mlendpoints profile: {exc}", file=sys.stderr)
        return 2
    levels: list[Level] = out.pop("_levels")
    print(table(levels))
    rec = out["recommendation"]
    print(
        f"\nrecommendation: instanceCount {rec['instance_count']}, "
        f"requestSettings.maxConcurrentRequestsPerInstance {rec['max_concurrent_requests_per_instance']}, "
        f"resources.requests cpu {rec['cpu']} memory {rec['memory']} (memory limit {rec['memory_limit']})"
    )
    if rec["note"]:
        print(f"note: {rec['note']}")
    Path(f"{args.output}.json").write_text(json.dumps(out, indent=2) + "\n")
    plot(levels, Path(f"{args.output}.png"))
    print(f"wrote {args.output}.json and {args.output}.png")
    return 0
