"""Batch runner throughput: rows/s over a generated CSV folder, printed side by side with a floor.

Configs (same data, same scikit-learn model):

- ``floor``: one process, plain ``pandas.read_csv`` + ``model.predict`` per file, no output written;
- ``mlflow-1`` / ``mlflow-2``: the runner scoring the MLflow model without a script (signature
  enforced, predictions.csv written), 1 and 2 worker processes;
- ``script-1`` / ``script-2``: the runner with an Azure-style batch driver script
  (``run(mini_batch)`` reads each CSV and predicts), 1 and 2 worker processes.

Per config: wall seconds, rows/s, ratio to the floor, time to the first finished mini-batch (from
the runner's start; includes starting the workers and ``init()``), and the peak RSS of each worker
process (VmHWM, sampled from /proc). Data and model are cached in ``~/.cache/mlendpoints/bench-batch``.
Prints numbers; asserts nothing.

    python bench/batch/bench.py                       # 1M rows in 100 files, all configs
    python bench/batch/bench.py --rows 200000 --configs floor,mlflow-1
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CACHE = Path.home() / ".cache" / "mlendpoints" / "bench-batch"
COLUMNS = ["f0", "f1", "f2", "f3"]
SCRIPT = """
import os
import mlflow.pyfunc
import pandas as pd

def init():
    global model
    model = mlflow.pyfunc.load_model(os.environ["AZUREML_MODEL_DIR"])

def run(mini_batch):
    frames = []
    for path in mini_batch:
        data = pd.read_csv(path)
        out = pd.DataFrame({"prediction": model.predict(data)})
        out["file"] = os.path.basename(path)
        frames.append(out)
    return pd.concat(frames)
"""
FLOOR = """
import glob, os, sys, time, resource
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[2])
t0 = time.perf_counter()
rows, first = 0, None
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.csv"))):
    rows += len(model.predict(pd.read_csv(path)))
    first = first or time.time() - float(sys.argv[3])
print(rows, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, first)
"""


def prepare(rows: int, files: int) -> tuple[Path, Path]:
    import numpy as np
    import pandas as pd

    data = CACHE / f"data-{rows}-{files}"
    model_dir = CACHE / "model"
    if not (model_dir / "MLmodel").exists():
        import mlflow.sklearn
        from mlflow.models import infer_signature
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(0)
        X = pd.DataFrame(rng.normal(size=(2000, 4)), columns=COLUMNS)
        y = (X.sum(axis=1) > 0).astype(int)
        model = LogisticRegression().fit(X, y)
        mlflow.sklearn.save_model(model, str(model_dir), signature=infer_signature(X.head(), model.predict(X.head())),
                                  serialization_format="cloudpickle")  # fmt: skip
    if not (data / "done").exists():
        data.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(1)
        per = rows // files
        for n in range(files):
            frame = pd.DataFrame(rng.normal(size=(per, 4)).round(5), columns=COLUMNS)
            frame.to_csv(data / f"part-{n:04d}.csv", index=False)
        (data / "done").write_text(str(per * files))
    return data, model_dir


class PeakRss:
    """Peak resident memory (VmHWM, KiB) of every descendant process (the resource tracker, the fork
    server and the workers), sampled every 0.1 s."""

    def __init__(self) -> None:
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            parents: dict[int, int] = {}
            for stat in glob.glob("/proc/[0-9]*/stat"):
                try:
                    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
                    parents[int(stat.split("/")[2])] = int(fields[1])
                except (OSError, IndexError, ValueError):
                    continue
            mine, grew = {os.getpid()}, True
            while grew:  # descendants: workers are children of the fork server, itself our child
                found = {pid for pid, ppid in parents.items() if ppid in mine} - mine
                grew = bool(found)
                mine |= found
            for pid in mine - {os.getpid()}:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        self.peaks[pid] = max(self.peaks.get(pid, 0), int(line.split()[1]))


def run_runner(data: Path, model_dir: Path, workers: int, script: bool, mini_batch: int) -> dict[str, Any]:
    from mlendpoints.batch.config import Input, RunConfig
    from mlendpoints.batch.runner import run_index

    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    code = work / "code"
    code.mkdir()
    (code / "score.py").write_text(SCRIPT)
    (data / "done").rename(data.parent / f"{data.name}.done")  # not an input file
    try:
        config = RunConfig(
            inputs=(Input("data", str(data)),), output=str(work / "out"), model_dir=str(model_dir),
            source_dir=str(code) if script else None, entry_script="score.py" if script else None,
            mini_batch_size=mini_batch, max_concurrency_per_instance=workers, timeout=600, max_retries=0,
        )  # fmt: skip
        with PeakRss() as rss:
            start = time.time()
            outcome = run_index(config)
            wall = time.time() - start
    finally:
        (data.parent / f"{data.name}.done").rename(data / "done")
    if not outcome.ok:
        raise RuntimeError(outcome.message + " " + outcome.error)
    done = glob.glob(str(work / "out" / ".mlendpoints" / "*" / "done" / "*.json"))
    first = min(os.path.getmtime(p) for p in done) - start
    rows = (work / "out" / "predictions.csv").read_bytes().count(b"\n")
    return {
        "rows": rows,
        "wall_s": wall,
        "first_s": first,
        "rss_mib": sorted(v // 1024 for v in rss.peaks.values()),
    }


def run_floor(data: Path, model_dir: Path) -> dict[str, Any]:
    cmd = [sys.executable, "-c", FLOOR, str(data), str(model_dir), str(time.time())]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows, seconds, maxrss, first = out.stdout.split()
    # first_s: from starting the process (imports, model load) to the first file predicted
    return {"rows": int(rows), "wall_s": float(seconds), "first_s": float(first), "rss_mib": [int(maxrss) // 1024],
            "floor": True}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--files", type=int, default=100)
    p.add_argument("--mini-batch-size", type=int, default=5)
    p.add_argument("--configs", default="floor,mlflow-1,mlflow-2,script-1,script-2")
    args = p.parse_args()
    data, model_dir = prepare(args.rows, args.files)
    results = {}
    for name in args.configs.split(","):
        if name == "floor":
            results[name] = run_floor(data, model_dir)
        else:
            kind, workers = name.split("-")
            results[name] = run_runner(data, model_dir, int(workers), kind == "script", args.mini_batch_size)
        print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
    floor = results.get("floor")
    print(f"\n{args.rows} rows in {args.files} CSV files, miniBatchSize {args.mini_batch_size}, "
          f"{os.cpu_count()} CPUs (shared)\n")  # fmt: skip
    print("rows/s: all rows over the whole run (worker start and init() included; the floor's clock")
    print("starts after its imports and model load); steady: rows after the first mini-batch over the")
    print("time after it (what scales with data); 1st mb s: from start to the first finished mini-batch")
    print("(the floor: process start, imports and model load, to its first file).\n")
    head = (
        f"{'config':<10} {'rows':>9} {'wall s':>8} {'rows/s':>9} {'steady':>9} {'x floor':>8} {'1st mb s':>9}"
    )
    print(head + "  peak RSS per process MiB (tracker, fork server, workers)")
    floor_rate = floor["rows"] / floor["wall_s"] if floor else float("nan")
    n_mb = -(-args.files // args.mini_batch_size)
    for name, r in results.items():
        rate = r["rows"] / r["wall_s"]
        steady = rate
        if not r.get("floor") and n_mb > 1 and r["wall_s"] > r["first_s"]:
            steady = r["rows"] * (n_mb - 1) / n_mb / (r["wall_s"] - r["first_s"])
        first = f"{r['first_s']:.2f}"
        print(
            f"{name:<10} {r['rows']:>9} {r['wall_s']:>8.2f} {rate:>9.0f} {steady:>9.0f} "
            f"{steady / floor_rate:>8.2f} {first:>9}  {r['rss_mib']}"
        )


if __name__ == "__main__":
    main()
