#!/usr/bin/env python3
"""Scoring-runtime benchmark: our server and its peers, same model, same machine, one run.

Each server runs pinned to CPU 1 (a 1-CPU pod, roughly), wrk runs pinned to CPU 0 (1 thread), the
whole run sits in a private network namespace (``unshare -n``: only ``lo``, so peers that bind
0.0.0.0 stay on loopback and nothing collides with other work on the machine). For every
(concurrency, rows) point it records req/s, p50/p90/p99/max latency, errors (non-2xx + socket
errors), the server's idle and peak RSS (summed over its process tree) and its CPU time per
request (server CPU seconds / requests: the figure least disturbed by other load on the machine).

    python3 bench/runtime/bench.py                      # everything, 10 s per point (~15 min)
    python3 bench/runtime/bench.py --configs ours-script,kserve --conc 8 --rows 1 --duration 5
    python3 bench/runtime/bench.py report bench/runtime/results/<file>.jsonl

Needs: ``wrk`` (Debian package), the project venv (``.ci/bootstrap.sh``), the peer venvs
(``bench/runtime/setup_venvs.sh``). Standard library only. See README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PROJECT_PY = Path(os.environ.get("BENCH_PROJECT_PYTHON", REPO / ".venv" / "bin" / "python"))
VENVS = Path(os.environ.get("BENCH_VENVS", Path.home() / ".cache" / "mlendpoints" / "bench-venvs"))
WORK = Path(os.environ.get("BENCH_WORK", "/tmp/mlendpoints-bench"))
PORT = 18080
SERVER_CPU, CLIENT_CPU = "1", "0"
KEY = "bench-primary-key-0123456789abcdef"


def venv(name: str, exe: str) -> str:
    return str(VENVS / name / "bin" / exe)


def configs() -> dict[str, dict]:
    """name -> how to start it, where to send what, and a one-line description."""
    m = WORK / "model"
    ours = [str(PROJECT_PY), "-m", "mlendpoints", "serve", "--host", "127.0.0.1", "--port", str(PORT)]
    ours_env = {"MLENDPOINTS_AUTH_KEY_DIR": str(WORK / "keys"), "MLENDPOINTS_LOG_LEVEL": "WARNING"}
    script = ["--model-dir", str(m), "--source-dir", str(HERE / "servers"), "--entry-script", "score.py"]
    limits = "auth on, limits on (concurrency 1, queue wait 500 ms, timeout 5 s), metrics on"
    c: dict[str, dict] = {
        "ours-script": {
            "cmd": ours + script,
            "env": ours_env,
            "ready": "/readyz",
            "path": "/score",
            "payload": "azureml",
            "auth": True,
            "what": f"mlendpoints serve, scoring script run(raw_data); {limits}",
        },
        "ours-script-collect": {
            "cmd": ours + script,
            "env": ours_env
            | {
                "MLENDPOINTS_DATA_COLLECTOR_ENABLED": "true",
                "MLENDPOINTS_DATA_COLLECTOR_SAMPLING_RATE": "1",
                "MLENDPOINTS_DATA_COLLECTOR_DESTINATION": f"file://{WORK / 'payloads'}",
            },
            "ready": "/readyz",
            "path": "/score",
            "payload": "azureml",
            "auth": True,
            "what": f"same as ours-script + payload collection at 100% sampling (inputs and outputs, local files); {limits}",
        },
        "ours-script-batch": {
            "cmd": ours + script + ["--max-batch-size", "64"],
            "env": ours_env,
            "ready": "/readyz",
            "path": "/score",
            "payload": "azureml",
            "auth": True,
            "what": f"same + micro-batching (run_batch, max 64 rows, greedy); {limits}",
        },
        "ours-mlflow": {
            "cmd": [*ours, "--model-dir", str(m / "mlflow-tensor")],
            "env": ours_env,
            "ready": "/readyz",
            "path": "/score",
            "payload": "input_data",
            "auth": True,
            "what": f"mlendpoints serve, MLflow model (tensor signature enforced); {limits}",
        },
        "ours-mlflow-batch": {
            "cmd": [*ours, "--model-dir", str(m / "mlflow-tensor"), "--max-batch-size", "64"],
            "env": ours_env,
            "ready": "/readyz",
            "path": "/score",
            "payload": "input_data",
            "auth": True,
            "what": f"same + micro-batching (max 64 rows, greedy); {limits}",
        },
        "azureml": {
            "cmd": [
                venv("azureml", "azmlinfsrv"),
                "--entry_script",
                str(HERE / "servers" / "score.py"),
                "--model_dir",
                str(m),
                "--port",
                str(PORT),
                "--worker_count",
                "1",
            ],
            "ready": "/",
            "path": "/score",
            "payload": "azureml",
            "what": "azureml-inference-server-http 1.5.1 (gunicorn, 1 sync worker), same script",
        },
        "azureml-mlflow": {
            "cmd": [
                venv("azureml", "azmlinfsrv"),
                "--entry_script",
                str(HERE / "servers" / "score_mlflow.py"),
                "--model_dir",
                str(m),
                "--port",
                str(PORT),
                "--worker_count",
                "1",
            ],
            "ready": "/",
            "path": "/score",
            "payload": "input_data",
            "what": "azureml-inference-server-http 1.5.1, MLflow model via mlflow.pyfunc (Azure's no-code path)",
        },
        "kserve": {
            "cmd": [
                venv("kserve", "python"),
                str(HERE / "servers" / "kserve_model.py"),
                "--http_port",
                str(PORT),
                "--grpc_port",
                str(PORT + 1),
                "--model_name",
                "model",
                "--model_dir",
                str(m),
                "--workers",
                "1",
            ],
            "ready": "/v1/models/model",
            "path": "/v1/models/model:predict",
            "payload": "v1",
            "what": "KServe 0.21.0 ModelServer, 1 worker, v1 protocol (its fastest)",
        },
        "mlserver-sklearn": {
            "cmd": [venv("mlserver", "mlserver"), "start", "."],
            "mlserver": ("sklearn", 0),
            "ready": "/v2/models/model/ready",
            "path": "/v2/models/model/infer",
            "payload": "v2",
            "what": "MLServer 1.7.1 sklearn runtime, parallel_workers=0 (its fastest on 1 CPU)",
        },
        "mlserver-mlflow": {
            "cmd": [venv("mlserver", "mlserver"), "start", "."],
            "mlserver": ("mlflow", 0),
            "ready": "/v2/models/model/ready",
            "path": "/v2/models/model/infer",
            "payload": "v2",
            "what": "MLServer 1.7.1 mlflow runtime, parallel_workers=0",
        },
        "floor": {
            "cmd": [
                str(PROJECT_PY),
                "-m",
                "uvicorn",
                "floor:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(PORT),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            "cwd": str(HERE / "servers"),
            "env": {"AZUREML_MODEL_DIR": str(m)},
            "ready": "/",
            "path": "/score",
            "payload": "azureml",
            "what": "reference floor: Starlette + orjson + predict, nothing else (not a product)",
        },
    }
    return c


# -- process tree accounting (/proc) ---------------------------------------------------------------


def session_pids(sid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[3]) == sid:
                    pids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return pids


def tree_cpu_s(sid: int) -> float:
    ticks = 0
    for pid in session_pids(sid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text()
            fields = fields[fields.rindex(")") + 2 :].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(sid: int) -> float:
    kb = 0
    for pid in session_pids(sid):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    kb += int(line.split()[1])
        except OSError:
            pass
    return kb / 1024


class PeakRss(threading.Thread):
    def __init__(self, sid: int) -> None:
        super().__init__(daemon=True)
        self.sid, self.peak, self.stop = sid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, tree_rss_mb(self.sid))
            self.stop.wait(0.5)


def settle(sid: int, limit_s: float = 60) -> None:
    """Wait until the server tree is idle (< 5% of a CPU over 1 s): loading is over."""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        before = tree_cpu_s(sid)
        time.sleep(1)
        if tree_cpu_s(sid) - before < 0.05:
            return


# -- servers ----------------------------------------------------------------------------------------


def http(path: str, body: bytes | None = None, auth: bool = False) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if auth:
        headers["Authorization"] = f"Bearer {KEY}"
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def mlserver_folder(name: str, runtime: str, workers: int) -> Path:
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "model").mkdir(parents=True)
    settings = {
        "host": "127.0.0.1",
        "http_port": PORT,
        "grpc_port": PORT + 1,
        "metrics_port": PORT + 2,
        "parallel_workers": workers,
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    impl, uri = (
        ("mlserver_sklearn.SKLearnModel", WORK / "model" / "model.joblib")
        if runtime == "sklearn"
        else ("mlserver_mlflow.MLflowRuntime", WORK / "model" / "mlflow-tensor")
    )
    (folder / "model" / "model-settings.json").write_text(
        json.dumps({"name": "model", "implementation": impl, "parameters": {"uri": str(uri)}})
    )
    return folder


def start(name: str, cfg: dict) -> tuple[subprocess.Popen, float]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **cfg.get("env", {}))
    cwd = cfg.get("cwd") or str(WORK)
    if "mlserver" in cfg:
        cwd = str(mlserver_folder(name, *cfg["mlserver"]))
    log = open(WORK / "logs" / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
    started = time.time()
    process = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, *cfg["cmd"]],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    while time.time() - started < 180:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log.name}")
        try:
            if http(cfg["ready"])[0] == 200:
                return process, time.time() - started
        except OSError:
            pass
        time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"{name} not ready after 180 s")


def stop(process: subprocess.Popen) -> None:
    sid = process.pid
    try:
        os.killpg(sid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(sid, signal.SIGKILL)
        process.wait(timeout=10)
    for pid in session_pids(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wrk(cfg: dict, body_file: Path, conc: int, duration: int) -> dict:
    env = dict(
        os.environ,
        BODY_FILE=str(body_file),
        MAX_REQ="5000000",
        AUTH_HEADER=f"Bearer {KEY}" if cfg.get("auth") else "",
    )
    cmd = [
        "timeout",
        str(duration + 60),
        "taskset",
        "-c",
        CLIENT_CPU,
        "wrk",
        "-t1",
        f"-c{conc}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "wrk" / "post.lua"),
        f"http://127.0.0.1:{PORT}{cfg['path']}",
    ]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"wrk gave no result: {result.stderr[-400:]}")


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def run_config(name: str, cfg: dict, args: argparse.Namespace, out: Path) -> None:
    process, ready_s = start(name, cfg)
    try:
        settle(process.pid)
        idle_rss = tree_rss_mb(process.pid)
        payload = lambda rows: WORK / "model" / "payloads" / f"{cfg['payload']}_{rows}.json"  # noqa: E731
        for rows in args.rows:
            status, body = http(cfg["path"], payload(rows).read_bytes(), cfg.get("auth", False))
            if status != 200:
                raise RuntimeError(f"{name}: check request got {status}: {body[:200]!r}")
            wrk(cfg, payload(rows), 8, args.warmup)
        for rows in args.rows:
            for conc in args.conc:
                load = loadavg()
                sampler = PeakRss(process.pid)
                sampler.start()
                cpu0 = tree_cpu_s(process.pid)
                try:
                    r = wrk(cfg, payload(rows), conc, args.duration)
                finally:
                    sampler.stop.set()
                    sampler.join()
                cpu = tree_cpu_s(process.pid) - cpu0
                errors = (
                    r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"] + r["err_timeout"]
                )
                record = {
                    "server": name,
                    "what": cfg["what"],
                    "conc": conc,
                    "rows": rows,
                    "rps": round(r["requests"] / (r["duration_us"] / 1e6), 1),
                    "p50_ms": r["p50_us"] / 1000,
                    "p90_ms": r["p90_us"] / 1000,
                    "p99_ms": r["p99_us"] / 1000,
                    "max_ms": r["max_us"] / 1000,
                    "requests": r["requests"],
                    "errors": errors,
                    "cpu_us_per_req": round(cpu / max(1, r["requests"]) * 1e6, 1),
                    "rss_idle_mb": round(idle_rss, 1),
                    "rss_peak_mb": round(max(sampler.peak, idle_rss), 1),
                    "ready_s": round(ready_s, 2),
                    "duration_s": args.duration,
                    "loadavg_before": load,
                    "tag": args.tag,
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                }
                print(
                    f"[{name}] c={conc} rows={rows}: {record['rps']:.0f} req/s p50={record['p50_ms']:.2f} "
                    f"p99={record['p99_ms']:.2f} ms err={errors} cpu/req={record['cpu_us_per_req']:.0f} us "
                    f"rss={record['rss_peak_mb']:.0f} MB load={load}",
                    flush=True,
                )
                with out.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                time.sleep(1)
    finally:
        stop(process)
        time.sleep(1)


def prepare() -> None:
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    (WORK / "keys").mkdir(exist_ok=True)
    (WORK / "keys" / "primaryKey").write_text(KEY)
    (WORK / "keys" / "secondaryKey").write_text("bench-secondary-key")
    if not (WORK / "model" / "mlflow-tensor" / "MLmodel").exists():
        subprocess.run([str(PROJECT_PY), str(HERE / "prepare.py"), str(WORK / "model")], check=True)


def run(args: argparse.Namespace) -> int:
    if os.environ.get("BENCH_NETNS") != "1" and not args.no_netns:
        script = 'ip link set lo up && BENCH_NETNS=1 exec "$0" "$@"'
        os.execvp("unshare", ["unshare", "-n", "sh", "-c", script, sys.executable, *sys.argv])  # noqa: S606
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    prepare()
    available = configs()
    names = list(available) if args.configs == "all" else args.configs.split(",")
    out = Path(args.out or HERE / "results" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"results -> {out}", flush=True)
    for round_ in range(args.repeat):
        for name in names:
            try:
                run_config(name, available[name], args, out)
            except Exception as exc:
                print(f"[{name}] FAILED: {exc}", flush=True)
                with out.open("a") as handle:
                    handle.write(json.dumps({"server": name, "error": str(exc), "tag": args.tag}) + "\n")
        print(f"round {round_ + 1}/{args.repeat} done", flush=True)
    print(report(out))
    return 0


# -- report ------------------------------------------------------------------------------------------

PEERS = ("azureml", "azureml-mlflow", "kserve", "mlserver-sklearn", "mlserver-mlflow")
#: peers that serve the MLflow model (the fair memory comparison for our MLflow path)
MLFLOW_PEERS = ("azureml-mlflow", "mlserver-mlflow")


def report(path: Path) -> str:
    """Markdown: the median of repeated runs per (server, c, rows), then the targets."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    records = [r for r in records if "error" not in r]
    groups: dict[tuple[str, int, int], list[dict]] = {}
    for r in records:
        groups.setdefault((r["server"], r["conc"], r["rows"]), []).append(r)

    def med(key: tuple[str, int, int], field: str) -> float:
        return statistics.median(r[field] for r in groups[key])

    lines = [
        "| server | c | rows | req/s | p50 ms | p99 ms | errors | CPU us/req | RSS idle / peak MB | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in sorted(groups, key=lambda k: (k[2], k[1], -med(k, "rps"))):
        runs = groups[key]
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {med(key, 'rps'):,.0f} | {med(key, 'p50_ms'):.2f} | "
            f"{med(key, 'p99_ms'):.2f} | {sum(r['errors'] for r in runs)} | {med(key, 'cpu_us_per_req'):.0f} | "
            f"{med(key, 'rss_idle_mb'):.0f} / {med(key, 'rss_peak_mb'):.0f} | {len(runs)} |"
        )
    lines.append("")
    peers_c8 = [(med(k, "rps"), med(k, "p99_ms"), k[0]) for k in groups if k[0] in PEERS and k[1:] == (8, 1)]
    ours_c8 = [
        (med(k, "rps"), med(k, "p99_ms"), k[0]) for k in groups if k[0].startswith("ours") and k[1:] == (8, 1)
    ]
    if peers_c8 and ours_c8:
        best = max(peers_c8)
        lines.append(f"Best peer at c=8, 1 row: {best[2]} {best[0]:,.0f} req/s, p99 {best[1]:.2f} ms.")
        for rps, p99, name in sorted(ours_c8, reverse=True):
            lines.append(f"- {name}: {rps / best[0]:.2f}x its req/s, p99 {p99 / best[1]:.2f}x its p99")
    idle = {k[0]: med(k, "rss_idle_mb") for k in groups}
    for label, peers, ours in (
        ("any model", PEERS, ("ours-script", "ours-script-batch")),
        ("the MLflow model", MLFLOW_PEERS, ("ours-mlflow", "ours-mlflow-batch")),
    ):
        peer_idle = {n: v for n, v in idle.items() if n in peers}
        if peer_idle:
            lightest = min(peer_idle, key=peer_idle.__getitem__)
            lines.append(
                f"Idle RSS, lightest peer serving {label}: {lightest} {peer_idle[lightest]:.0f} MB; ours: "
                + ", ".join(f"{n} {idle[n]:.0f} MB" for n in ours if n in idle)
            )
    for c, rows in sorted({k[1:] for k in groups if k[0] == "ours-script-collect"}):
        if ("ours-script", c, rows) in groups:
            off, on = ("ours-script", c, rows), ("ours-script-collect", c, rows)
            cpu = med(on, "cpu_us_per_req") / med(off, "cpu_us_per_req") - 1
            p99 = med(on, "p99_ms") - med(off, "p99_ms")
            lines.append(
                f"Payload collection at 100% (c={c}, {rows} rows): CPU/req {med(off, 'cpu_us_per_req'):.0f} -> "
                f"{med(on, 'cpu_us_per_req'):.0f} us ({cpu:+.1%}), p99 {med(off, 'p99_ms'):.2f} -> "
                f"{med(on, 'p99_ms'):.2f} ms ({p99:+.2f} ms); targets <= +10% and <= +1 ms"
            )
    for base in ("ours-script", "ours-mlflow"):
        if (base, 64, 1) in groups and (f"{base}-batch", 64, 1) in groups:
            ratio = med((f"{base}-batch", 64, 1), "rps") / med((base, 64, 1), "rps")
            lines.append(f"Micro-batching at c=64, 1 row: {base}-batch = {ratio:.2f}x {base}")
    loads = [r["loadavg_before"] for r in records]
    lines.append(
        f"Load average before each point: median {statistics.median(loads):.2f}, max {max(loads):.2f}."
    )
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "report":
        print(report(Path(sys.argv[2])))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", default="all", help=f"comma list or 'all' ({', '.join(configs())})")
    parser.add_argument("--conc", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8, 64])
    parser.add_argument("--rows", type=lambda s: [int(x) for x in s.split(",")], default=[1, 100])
    parser.add_argument("--duration", type=int, default=10, help="seconds per point")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per payload")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds over all configs (report shows medians)"
    )
    parser.add_argument("--out", default=None, help="JSONL file (default: results/run-<time>.jsonl)")
    parser.add_argument("--tag", default="")
    parser.add_argument("--no-netns", action="store_true", help="skip unshare -n (ports must be free)")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
