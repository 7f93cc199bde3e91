"""The runner as a Job's pod runs it: ``mlendpoints batch run`` configured by the environment
(the renderer's contract), one process per Job index, resume after the pod dies, assembly by
the last index, and the termination message the operator reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mlendpoints.batch import contract
from tests.batch.conftest import make_files, read_log, write_script


def _env(tmp: Path, data: Path, out: Path, *, index: int = 0, count: int = 1, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLENDPOINTS_BATCH", "AZUREML_"))}
    env |= {
        contract.INPUTS: json.dumps({"data": {"type": "uri_folder", "path": str(data)}}),
        contract.OUTPUT: str(out),
        contract.SOURCE_DIR: str(tmp / "code"),
        contract.ENTRY_SCRIPT: "score.py",
        contract.MODEL_DIR: str(tmp),
        contract.MINI_BATCH_SIZE: "1",
        contract.INSTANCE_COUNT: str(count),
        contract.JOB_INDEX: str(index),
        contract.TERMINATION_LOG: str(tmp / f"termination-{index}"),
        "CALLS": str(tmp / "calls.log"),
    }
    return env | extra


def _runner(env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "mlendpoints.cli", "batch", "run"]
    # A session of its own, like a container: killing the group kills the runner and its workers.
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


RESUME = """
import os, signal
def init(): pass
def run(mini_batch):
    name = os.path.basename(mini_batch[0])
    with open(os.environ["CALLS"], "a") as fh:
        fh.write(name + "\\n")
    marker = os.environ["CALLS"] + ".killed"  # outside the inputs: a changed listing is another job
    if name == "c-kill.txt" and not os.path.exists(marker):
        open(marker, "w").close()
        os.killpg(0, signal.SIGKILL)  # the pod dies (node loss) mid-job: every process in it
    return [name]
"""


def test_resume_after_the_pod_dies_skips_finished_mini_batches(tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    make_files(data, ["a.txt", "b.txt", "c-kill.txt", "d.txt"])
    write_script(tmp_path / "code", RESUME)
    first = _runner(_env(tmp_path, data, out))
    first.communicate(timeout=120)
    assert first.returncode == -9
    assert not (out / "predictions.csv").exists()
    second = _runner(_env(tmp_path, data, out))
    log, _ = second.communicate(timeout=120)
    assert second.returncode == contract.EXIT_OK, log
    assert "(2 already done)" in log
    calls = (tmp_path / "calls.log").read_text().split()
    assert calls == ["a.txt", "b.txt", "c-kill.txt", "c-kill.txt", "d.txt"]
    assert (out / "predictions.csv").read_text().split() == ["a.txt", "b.txt", "c-kill.txt", "d.txt"]
    message = json.loads((tmp_path / "termination-0").read_text())
    assert message["assembled"] is True
    assert message["completedMiniBatches"] == 4
    assert message["totalMiniBatches"] == 4


JITTER = """
import os, random, time
def init():
    random.seed(os.environ["SEED"] + str(os.getpid()))
def run(mini_batch):
    time.sleep(random.random() * 0.2)
    return [os.path.relpath(p, os.environ["DATA"]) for p in mini_batch]
"""


def _two_indexes(tmp: Path, data: Path, out: Path, seed: str) -> list[str]:
    procs = [
        _runner(_env(tmp, data, out, index=i, count=2, SEED=seed, DATA=str(data),
                     **{contract.MAX_CONCURRENCY: "3", contract.MINI_BATCH_SIZE: "2"}))
        for i in (0, 1)
    ]  # fmt: skip
    logs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    return logs


def test_predictions_are_in_input_order_whatever_the_worker_timing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    names = make_files(data, [f"{d}/{n:02d}.txt" for d in ("x", "y") for n in range(11)])
    write_script(tmp_path / "code", JITTER)
    _two_indexes(tmp_path, data, tmp_path / "out1", "one")
    _two_indexes(tmp_path, data, tmp_path / "out2", "two")
    first = (tmp_path / "out1" / "predictions.csv").read_bytes()
    assert first.decode().split() == names
    assert (tmp_path / "out2" / "predictions.csv").read_bytes() == first
    assert "result: Succeeded" in read_log(tmp_path / "out1", "job_result.txt")
    messages = [json.loads((tmp_path / f"termination-{i}").read_text()) for i in (0, 1)]
    assert sum(m["assembled"] for m in messages) >= 1
    assert sorted(m["index"] for m in messages) == [0, 1]


def test_bad_environment_is_a_clear_error(tmp_path: Path) -> None:
    env = _env(tmp_path, tmp_path, tmp_path / "out", **{contract.MINI_BATCH_SIZE: "ten"})
    proc = _runner(env)
    log, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "MLENDPOINTS_BATCH_MINI_BATCH_SIZE: not an integer: 'ten'" in log
