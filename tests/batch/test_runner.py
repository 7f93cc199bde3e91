"""The batch runner on real files: Azure ML's init()/run(mini_batch) contract, retries, timeouts,
errorThreshold, outputs and logs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.batch.conftest import make_files, read_log

Run = Callable[..., Any]

LIST_SCRIPT = """
import os
def init():
    global prefix
    prefix = "seen"
    assert os.environ["AZUREML_MODEL_DIR"]
    assert os.path.isdir(os.environ["AZUREML_BI_OUTPUT_PATH"])
def run(mini_batch):
    return [f"{prefix} {os.path.relpath(p, os.environ['INPUT_ROOT'])} {os.path.getsize(p)}" for p in mini_batch]
"""


def test_list_return_over_mixed_real_files_in_input_order(
    tmp_path: Path, run_job: Run, monkeypatch: Any
) -> None:
    data = tmp_path / "data"
    make_files(data, ["b.csv", "a/nested/deep.parquet", "a/x.bin", "été/ünï.txt", "z/0.png"])
    pd.DataFrame({"x": [1, 2]}).to_parquet(data / "a" / "nested" / "deep.parquet")
    (data / "z" / "0.png").write_bytes(b"")  # a 0-byte file is an item like any other
    (data / "a" / "x.bin").write_bytes(bytes(range(256)))
    monkeypatch.setenv("INPUT_ROOT", str(data))
    model = tmp_path / "model"
    model.mkdir()
    outcome, out = run_job(
        LIST_SCRIPT, data, model_dir=model, mini_batch_size=2, max_concurrency_per_instance=2
    )
    assert outcome.ok, outcome.message
    assert outcome.assembled
    lines = (out / "predictions.csv").read_text().splitlines()
    names = [line.split(" ")[1] for line in lines]
    assert names == sorted(names) == ["a/nested/deep.parquet", "a/x.bin", "b.csv", "z/0.png", "été/ünï.txt"]
    assert lines[1] == "seen a/x.bin 256"
    assert lines[3] == "seen z/0.png 0"
    c = outcome.counters
    assert (c.total_mini_batches, c.completed_mini_batches, c.succeeded_items, c.failed_items) == (3, 3, 5, 0)
    assert "3 of 3 mini-batches processed" in read_log(out, "job_progress_overview.txt")
    assert "result: Succeeded" in read_log(out, "job_result.txt")
    assert not (out / "logs" / "user" / "job_error.txt").exists()


def test_dataframe_return_rows_space_separated(tmp_path: Path, run_job: Run) -> None:
    data = tmp_path / "data"
    make_files(data, ["1.csv", "2.csv", "3.csv"])
    for n in (1, 2, 3):
        pd.DataFrame({"v": [n * 10, n * 10 + 1]}).to_csv(data / f"{n}.csv", index=False)
    script = """
import os, pandas as pd
def init(): pass
def run(mini_batch):
    frames = []
    for p in mini_batch:
        df = pd.read_csv(p)
        df["file"] = os.path.basename(p)
        frames.append(df)
    return pd.concat(frames)
"""
    outcome, out = run_job(script, data, mini_batch_size=2)
    assert outcome.ok
    assert (out / "predictions.csv").read_text().splitlines() == [
        "10 1.csv", "11 1.csv", "20 2.csv", "21 2.csv", "30 3.csv", "31 3.csv",
    ]  # fmt: skip
    # rows returned > files: items still count per file
    assert outcome.counters.succeeded_items == 3


@pytest.mark.parametrize(("value", "kind"), [("None", "None"), ("{'a': 1}", "a dict"), ("42", "a int")])
def test_wrong_return_type_fails_the_mini_batch_with_azures_message(
    tmp_path: Path, run_job: Run, value: str, kind: str
) -> None:
    data = tmp_path / "data"
    make_files(data, ["a.txt", "b.txt"])
    script = f"def init(): pass\ndef run(mini_batch):\n    return {value}\n"
    outcome, out = run_job(script, data, mini_batch_size=1, max_retries=0)
    assert outcome.ok  # error_threshold -1 ignores failures
    assert outcome.counters.failed_mini_batches == 2
    assert outcome.counters.failed_items == 2
    errors = read_log(out, "job_error.txt")
    assert f"run() returned {kind}; run() must return a list or a DataFrame" in errors
    assert "file: a.txt" in errors
    detail = (out / "logs" / "user" / "error" / "minibatch-00000000.txt").read_text()
    assert "a.txt" in detail
    assert "must return a list or a DataFrame" in detail
    assert (out / "predictions.csv").read_text() == ""


def test_fewer_rows_than_inputs_count_as_failed_items(tmp_path: Path, run_job: Run) -> None:
    data = tmp_path / "data"
    make_files(data, [f"{n}.txt" for n in range(6)])
    script = "def init(): pass\ndef run(mini_batch):\n    return mini_batch[:1]\n"
    outcome, out = run_job(script, data, mini_batch_size=3)
    assert outcome.ok
    c = outcome.counters
    assert (c.succeeded_items, c.failed_items, c.failed_mini_batches) == (2, 4, 0)
    assert len((out / "predictions.csv").read_text().splitlines()) == 2


def test_init_raising_fails_the_job_with_its_traceback(tmp_path: Path, run_job: Run) -> None:
    data = tmp_path / "data"
    make_files(data, ["a.txt"])
    script = (
        "def init():\n    raise RuntimeError('no model here')\ndef run(mini_batch):\n    return mini_batch\n"
    )
    outcome, out = run_job(script, data)
    assert not outcome.ok
    assert "init() failed: RuntimeError: no model here" in outcome.error
    errors = read_log(out, "job_error.txt")
    assert "Traceback" in errors
    assert "no model here" in errors
    assert "init(): failed" in read_log(out, "job_result.txt")
    assert not (out / "predictions.csv").exists()


RETRY_SCRIPT = """
import os
def init(): pass
def run(mini_batch):
    for p in mini_batch:
        if os.path.basename(p) == "flaky.txt":
            marker = p + ".seen"
            if not os.path.exists(marker):
                open(marker, "w").close()
                raise ValueError("transient failure on " + os.path.basename(p))
    return [os.path.basename(p) for p in mini_batch]
"""


def test_run_raising_once_then_succeeding_on_retry(tmp_path: Path, run_job: Run) -> None:
    data = tmp_path / "data"
    make_files(data, ["a.txt", "flaky.txt", "z.txt"])
    outcome, out = run_job(RETRY_SCRIPT, data, mini_batch_size=1, max_retries=2)
    assert outcome.ok
    assert outcome.counters.failed_items == 0
    assert (out / "predictions.csv").read_text().splitlines() == ["a.txt", "flaky.txt", "z.txt"]
    assert not (out / "logs" / "user" / "job_error.txt").exists()


def test_timeout_kills_and_replaces_the_worker_then_retries(tmp_path: Path, run_job: Run) -> None:
    data = tmp_path / "data"
    make_files(data, ["slow.txt", "b.txt"])
    script = """
import os, time
def init():
    global started
    started = os.getpid()
def run(mini_batch):
    p = mini_batch[0]
    if os.path.basename(p) == "slow.txt" and not os.path.exists(p + ".seen"):
        open(p + ".seen", "w").close()
        time.sleep(60)
    return [f"{os.path.basename(p)} {started}"]
"""
    outcome, out = run_job(script, data, mini_batch_size=1, timeout=2, max_retries=1)
    assert outcome.ok
    assert outcome.counters.failed_items == 0
    rows = dict(line.split(" ") for line in (out / "predictions.csv").read_text().splitlines())
    # the slow mini-batch's retry ran in a new process (init() again), not the killed one
    assert set(rows) == {"b.txt", "slow.txt"}
    assert rows["slow.txt"] != rows["b.txt"]
    detail = (out / "logs" / "user" / "error").exists()
    assert not detail  # the mini-batch finally succeeded: no failure recorded


def test_timeout_on_every_attempt_fails_the_mini_batch(tmp_path: Path, run_job: Run) -> None:
    data = tmp_path / "data"
    make_files(data, ["slow.txt"])
    script = "import time\ndef init(): pass\ndef run(mini_batch):\n    time.sleep(60)\n"
    outcome, out = run_job(script, data, timeout=1, max_retries=1)
    assert outcome.counters.failed_items == 1
    detail = (out / "logs" / "user" / "error" / "minibatch-00000000.txt").read_text()
    assert detail.count("timed out after 1 s") == 2


FAIL_SOME = """
import os
def init(): pass
def run(mini_batch):
    if any(os.path.basename(p).startswith("bad") for p in mini_batch):
        raise ValueError("cannot score " + ",".join(os.path.basename(p) for p in mini_batch))
    return mini_batch
"""


def test_error_threshold_exceeded_fails_the_job_and_stops_scheduling(tmp_path: Path, run_job: Run) -> None:
    data = tmp_path / "data"
    make_files(data, ["bad1.txt", "bad2.txt", "bad3.txt"] + [f"ok{n:02d}.txt" for n in range(20)])
    outcome, out = run_job(FAIL_SOME, data, mini_batch_size=1, max_retries=0, error_threshold=1)
    assert not outcome.ok
    assert "2 failed items exceed error_threshold 1" in outcome.message
    # stopped early: the ok files after the bad ones were never scheduled
    assert outcome.counters.completed_mini_batches < 23
    assert "exceed error_threshold 1" in read_log(out, "job_error.txt")
    assert "cannot score bad1.txt" in outcome.error
    assert "result: Failed" in read_log(out, "job_result.txt")


def test_error_threshold_not_exceeded_and_minus_one(tmp_path: Path, run_job: Run) -> None:
    data = tmp_path / "data"
    make_files(data, ["bad1.txt", "bad2.txt", "ok.txt"])
    outcome, out = run_job(FAIL_SOME, data, mini_batch_size=1, max_retries=0, error_threshold=2)
    assert outcome.ok
    assert outcome.counters.failed_items == 2
    outcome, out = run_job(
        FAIL_SOME, data, mini_batch_size=1, max_retries=0, error_threshold=-1, output=tmp_path / "o2"
    )
    assert outcome.ok
    assert outcome.counters.failed_items == 2
    assert "2 mini-batch(es) failed" in read_log(out, "job_error.txt")
    assert (out / "predictions.csv").read_text().strip().endswith("ok.txt")


def test_empty_input_folder_is_a_clear_failure(tmp_path: Path, run_job: Run) -> None:
    (tmp_path / "empty").mkdir()
    outcome, _ = run_job("def init(): pass\ndef run(b):\n    return b\n", tmp_path / "empty")
    assert not outcome.ok
    assert "no input files in" in outcome.message


def test_missing_input_and_unwritable_output_are_clear_failures(tmp_path: Path, run_job: Run) -> None:
    outcome, _ = run_job("def init(): pass\ndef run(b):\n    return b\n", tmp_path / "nope")
    assert not outcome.ok
    assert "not found" in outcome.message
    blocker = tmp_path / "file"
    blocker.write_text("x")
    data = tmp_path / "data"
    make_files(data, ["a.txt"])
    outcome, _ = run_job("def init(): pass\ndef run(b):\n    return b\n", data, output=blocker / "out")
    assert not outcome.ok
    assert "is not writable" in outcome.message


def test_unreadable_file_fails_its_mini_batch_naming_it(tmp_path: Path, run_job: Run) -> None:
    data = tmp_path / "data"
    make_files(data, ["a.txt", "c.txt"])
    os.symlink(tmp_path / "missing-target", data / "b.txt")  # listed, cannot be opened
    script = "def init(): pass\ndef run(mini_batch):\n    return [open(p).read() for p in mini_batch]\n"
    outcome, out = run_job(script, data, mini_batch_size=1, max_retries=0)
    assert outcome.ok
    assert outcome.counters.failed_items == 1
    assert "FileNotFoundError" in read_log(out, "job_error.txt")
    assert "b.txt" in read_log(out, "job_error.txt")
    assert (out / "predictions.csv").read_text() == "a.txt\nc.txt\n"


def test_summary_only_writes_counts_not_rows(tmp_path: Path, run_job: Run) -> None:
    data = tmp_path / "data"
    make_files(data, ["a.txt", "b.txt"])
    outcome, out = run_job("def init(): pass\ndef run(b):\n    return b\n", data, output_action="summaryOnly")
    assert outcome.ok
    assert outcome.counters.succeeded_items == 2
    assert not (out / "predictions.csv").exists()
    assert "output_action: summaryOnly" in read_log(out, "job_result.txt")


def test_a_crashed_worker_is_replaced_and_its_mini_batch_retried(tmp_path: Path, run_job: Run) -> None:
    data = tmp_path / "data"
    make_files(data, ["a.txt", "crash.txt"])
    script = """
import os
def init(): pass
def run(mini_batch):
    p = mini_batch[0]
    if p.endswith("crash.txt") and not os.path.exists(p + ".seen"):
        open(p + ".seen", "w").close()
        os._exit(1)
    return [os.path.basename(p)]
"""
    outcome, out = run_job(script, data, mini_batch_size=1, max_retries=1)
    assert outcome.ok
    assert outcome.counters.failed_items == 0
    assert (out / "predictions.csv").read_text().split() == ["a.txt", "crash.txt"]


def test_logging_level_reaches_the_workers(tmp_path: Path, run_job: Run) -> None:
    data = tmp_path / "data"
    make_files(data, ["a.txt"])
    script = """
import logging
def init(): pass
def run(mini_batch):
    return [logging.getLevelName(logging.getLogger("user.code").getEffectiveLevel())]
"""
    _, out = run_job(script, data, logging_level="warning")
    assert (out / "predictions.csv").read_text() == "WARNING\n"
    _, out = run_job(script, data, logging_level="debug", output=tmp_path / "o2")
    assert (out / "predictions.csv").read_text() == "DEBUG\n"


def test_append_row_format_of_frames_and_lists() -> None:
    import numpy as np

    from mlendpoints.batch.worker import format_rows

    frame = pd.DataFrame({"p": [1, 0], "score": [0.25, 1.5], "file": ["a.csv", "b.csv"]})
    assert format_rows(frame) == b"1 0.25 a.csv\n0 1.5 b.csv\n"
    # values holding the separator are quoted (pandas' CSV quoting), not split into columns
    assert format_rows(pd.DataFrame({"text": ["two words"], "n": [1]})) == b'"two words" 1\n'
    assert format_rows(["x", 3, [1, "y"], np.array([2.5, 4])]) == b"x\n3\n1 y\n2.5 4.0\n"


def test_mlflow_prediction_rows_are_the_frames_rows() -> None:
    """The MLflow path writes each file's rows straight from its predictions; the bytes are the
    ones format_rows writes for the frame {prediction, file}, whatever the predictions' type."""
    import numpy as np

    from mlendpoints.batch.worker import MlflowBatch, _prediction_rows, format_rows

    predictions = [
        np.array([1, 0, 1]),
        np.array([0.25, np.nan, -1e-7, 3.0]),
        np.array([True, False]),
        np.array(["cat", "dog"], dtype=object),
        pd.Series([1.5, 2.5], index=[7, 9]),
        [0.1, 0.2],
    ]
    for prediction in predictions:
        for name in ("a.csv", "ünï-côdé.csv"):
            fast = _prediction_rows(prediction, name)
            assert fast is not None, prediction
            assert fast == format_rows(MlflowBatch._frame(prediction, f"/in/{name}")), (prediction, name)
    # what needs quoting or has several columns falls back to the frame (None here)
    assert _prediction_rows(np.array(["two words"], dtype=object), "a.csv") is None
    assert _prediction_rows(np.array([1, 2]), "my file.csv") is None
    assert _prediction_rows(np.array([[1, 2], [3, 4]]), "a.csv") is None
    assert _prediction_rows(pd.DataFrame({"p": [1]}), "a.csv") is None
