"""Batch runner throughput: rows/s over a generated CSV folder, printed side by side with floors.

Configs (same data, same scikit-learn model, same mini-batches):

- ``floor``: one process, plain ``pandas.read_csv`` + ``model.predict`` per file, no output written
  (the floor of the MLflow path);
- ``floor-script``: one process importing the Azure-style batch driver script below, calling its
  ``init()`` and then its ``run(mini_batch)`` in a plain loop over the mini-batches, no framework
  and no output written (the floor of the script path);
- ``mlflow-1`` / ``mlflow-2``: the runner scoring the MLflow model without a script (signature
  enforced, predictions.csv written), 1 and 2 worker processes;
- ``script-1`` / ``script-2``: the runner with the script, 1 and 2 worker processes.

Throughput ("rows/s") is steady-state: rows over the time after start-up. For the floors the clock
starts after imports and model load / ``init()``; for the runner it starts when all its workers
have finished ``init()`` (:attr:`Runner.timings`) and stops when the job's outputs are assembled,
so it includes scheduling, writing every row, the per-mini-batch records and ``predictions.csv``.
"x floor" divides by the matching floor (MLflow configs by ``floor``, script configs by
``floor-script``) from the same round. CPU s: CPU seconds per run, for the floors their scoring
loop's, for the runner its workers' CPU on mini-batches (:attr:`Timings.worker_cpu_s`: ``run``,
formatting and writing rows) plus the runner's own (its whole run, start-up and assembly
included); "x floor CPU" is the floor's CPU over the config's, the per-process efficiency,
which other work on the machine moves far less than wall-clock rates. Also printed: the whole run's rows/s (start-up included),
time to the first finished mini-batch, and each process's peak RSS (VmHWM sampled from /proc);
each run's figures (the runner's own CPU, ``runner_cpu_s``, among them) go to stderr as JSON.
Every config runs ``--repeat`` times, interleaved (round after round), and the medians are
printed with the load average before and after: on a shared machine other work moves every
figure. Data and model are cached in ``~/.cache/mlendpoints/bench-batch``. Prints numbers;
asserts nothing.

    python bench/batch/bench.py                       # 1M rows in 100 files, all configs, 3 rounds
    python bench/batch/bench.py --rows 200000 --configs floor,mlflow-1 --repeat 1
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
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
t0, c0 = time.perf_counter(), time.process_time()
rows, first = 0, None
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.csv"))):
    rows += len(model.predict(pd.read_csv(path)))
    first = first or time.time() - float(sys.argv[3])
print(rows, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, first,
      time.process_time() - c0)
"""
FLOOR_SCRIPT = """
import glob, importlib.util, os, sys, time, resource
os.environ["AZUREML_MODEL_DIR"] = sys.argv[2]
spec = importlib.util.spec_from_file_location("score", sys.argv[4])
score = importlib.util.module_from_spec(spec)
spec.loader.exec_module(score)
score.init()
files, size = sorted(glob.glob(os.path.join(sys.argv[1], "*.csv"))), int(sys.argv[5])
t0, c0 = time.perf_counter(), time.process_time()
rows, first = 0, None
for start in range(0, len(files), size):
    rows += len(score.run(files[start : start + size]))
    first = first or time.time() - float(sys.argv[3])
print(rows, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, first,
      time.process_time() - c0)
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
    from mlendpoints.batch.runner import Runner

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
        runner = Runner(config)
        with PeakRss() as rss:
            cpu = time.thread_time()  # the runner's own CPU (this thread; not the RSS sampler's)
            outcome = runner.run()
            end, cpu = time.monotonic(), time.thread_time() - cpu
    finally:
        (data.parent / f"{data.name}.done").rename(data / "done")
    if not outcome.ok:
        raise RuntimeError(outcome.message + " " + outcome.error)
    rows = (work / "out" / "predictions.csv").read_bytes().count(b"\n")
    t = runner.timings
    shutil.rmtree(work, ignore_errors=True)
    return {
        "rows": rows,
        "steady_s": end - t.workers_ready,
        "whole_s": end - t.start,
        "first_s": t.first_mini_batch - t.start,
        "cpu_s": t.worker_cpu_s + cpu,
        "runner_cpu_s": cpu,
        "rss_mib": sorted(v // 1024 for v in rss.peaks.values()),
    }


def run_floor(data: Path, model_dir: Path, script: bool, mini_batch: int) -> dict[str, Any]:
    start = time.time()
    if script:
        work = Path(tempfile.mkdtemp(prefix="bench-batch-floor-"))
        (work / "score.py").write_text(SCRIPT)
        cmd = [sys.executable, "-c", FLOOR_SCRIPT, str(data), str(model_dir), str(start), str(work / "score.py"),
               str(mini_batch)]  # fmt: skip
    else:
        cmd = [sys.executable, "-c", FLOOR, str(data), str(model_dir), str(start)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows, seconds, maxrss, first, cpu = out.stdout.split()
    # first_s: from starting the process (imports, model load) to the first file / mini-batch scored
    return {"rows": int(rows), "steady_s": float(seconds), "whole_s": time.time() - start, "first_s": float(first),
            "cpu_s": float(cpu), "rss_mib": [int(maxrss) // 1024]}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--files", type=int, default=100)
    p.add_argument("--mini-batch-size", type=int, default=5)
    p.add_argument("--configs", default="floor,floor-script,mlflow-1,script-1,mlflow-2,script-2")
    p.add_argument("--repeat", type=int, default=3, help="rounds; medians are printed")
    args = p.parse_args()
    data, model_dir = prepare(args.rows, args.files)
    load_before = os.getloadavg()
    names = args.configs.split(",")
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_ in range(args.repeat):
        for name in names:
            kind, _, workers = name.partition("-")
            if kind == "floor":
                r = run_floor(data, model_dir, workers == "script", args.mini_batch_size)
            else:
                r = run_runner(data, model_dir, int(workers), kind == "script", args.mini_batch_size)
            r["load1"] = os.getloadavg()[0]
            samples[name].append(r)
            print(json.dumps({"round": round_, name: r}), file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    print(f"\n{args.rows} rows in {args.files} CSV files, miniBatchSize {args.mini_batch_size}, "
          f"{os.cpu_count()} CPUs, median of {args.repeat} interleaved round(s)")  # fmt: skip
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {' '.join(f'{x:.2f}' for x in load_after)}\n")  # fmt: skip
    print("rows/s: steady (after start-up: the floors' imports and init, the runner's workers' init);")
    print("whole: start-up included; x floor: steady rows/s over the matching floor's (MLflow configs:")
    print("floor; script configs: floor-script); 1st mb s: start to the first finished mini-batch.\n")
    print(f"{'config':<13} {'rows':>8} {'rows/s':>9} {'x floor':>8} {'CPU s':>6} {'x floor CPU':>11} {'whole':>8} "
          f"{'1st mb s':>8} {'load1':>6}  peak RSS per process MiB")  # fmt: skip
    rates = {name: [r["rows"] / r["steady_s"] for r in rs] for name, rs in samples.items()}
    cpus = {name: [r["cpu_s"] for r in rs] for name, rs in samples.items()}
    for name, rs in samples.items():
        kind, _, workers = name.partition("-")
        floor_name = name if kind == "floor" else ("floor-script" if kind == "script" else "floor")
        ratio = cpu_ratio = float("nan")
        if floor_name in rates:  # per round, then the median: both ran under the same load
            ratio = statistics.median(a / b for a, b in zip(rates[name], rates[floor_name], strict=True))
            cpu_ratio = statistics.median(f / c for c, f in zip(cpus[name], cpus[floor_name], strict=True))
        whole = statistics.median(r["rows"] / r["whole_s"] for r in rs)
        first = statistics.median(r["first_s"] for r in rs)
        load1 = statistics.median(r["load1"] for r in rs)
        print(f"{name:<13} {rs[0]['rows']:>8} {statistics.median(rates[name]):>9.0f} {ratio:>8.2f} "
              f"{statistics.median(cpus[name]):>6.2f} {cpu_ratio:>11.2f} {whole:>8.0f} {first:>8.2f} {load1:>6.2f}  "
              f"{rs[-1]['rss_mib']}")  # fmt: skip


if __name__ == "__main__":
    main()
