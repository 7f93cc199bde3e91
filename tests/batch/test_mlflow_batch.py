"""MLflow models without a scoring script: CSV and Parquet files, signature enforced, one output
row per input row with its prediction and source file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tests.batch.conftest import COLUMNS, read_log


def _frame(seed: int, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(rows, 4)).round(6), columns=COLUMNS)


def test_mlflow_csv_and_parquet_rows_with_prediction_and_file(
    tmp_path: Path, run_job: Callable[..., Any], mlflow_model: tuple[Path, Any]
) -> None:
    folder, model = mlflow_model
    data = tmp_path / "data"
    data.mkdir()
    a, b, c = _frame(1, 3), _frame(2, 4), _frame(3, 2)
    a.to_csv(data / "a.csv", index=False)
    b.to_parquet(data / "b.parquet")
    (data / "sub").mkdir()
    c.to_csv(data / "sub" / "c.csv", index=False)
    outcome, out = run_job(
        None, data, model_dir=folder.parent, mini_batch_size=2, max_concurrency_per_instance=2
    )
    assert outcome.ok, outcome.message
    assert outcome.counters.succeeded_items == 3
    rows = (out / "predictions.csv").read_text().splitlines()
    expected = [f"{p} {name}" for frame, name in ((a, "a.csv"), (b, "b.parquet"), (c, "c.csv"))
                for p in model.predict(frame)]  # fmt: skip
    assert rows == expected


def test_mlflow_signature_errors_fail_the_file_with_the_reason(
    tmp_path: Path, run_job: Callable[..., Any], mlflow_model: tuple[Path, Any]
) -> None:
    folder, _ = mlflow_model
    data = tmp_path / "data"
    data.mkdir()
    _frame(1, 2).to_csv(data / "good.csv", index=False)
    _frame(2, 2).drop(columns=["f3"]).to_csv(data / "missing.csv", index=False)
    bad = _frame(3, 2)
    bad["f1"] = ["not a number", "1.5"]
    bad.to_parquet(data / "types.parquet")
    (data / "notes.json").write_text("{}")
    outcome, out = run_job(None, data, model_dir=folder, mini_batch_size=1, max_retries=0)
    assert outcome.ok  # error_threshold -1
    assert outcome.counters.failed_items == 3
    assert outcome.counters.succeeded_items == 1
    errors = read_log(out, "job_error.txt")
    assert "missing.csv: missing required column(s) ['f3']" in errors
    assert "types.parquet: column 'f1' cannot be converted to float64" in errors
    assert "notes.json: MLflow models score CSV or Parquet files only" in errors
    assert [line.split(" ")[-1] for line in (out / "predictions.csv").read_text().splitlines()] == [
        "good.csv"
    ] * 2
