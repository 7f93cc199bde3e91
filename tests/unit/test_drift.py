"""Data drift: exactly the shifted features drift, identical data never does, odd inputs give clear results.

Synthetic data, fixed seeds: 2,000 baseline rows and 1,000 target rows of three numeric features
(normal, uniform, exponential) and two categorical ones. The "shifted" target moves one numeric
feature by one standard deviation and changes one categorical feature's mix.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlendpoints.monitoring import cli, drift


def table(n: int, seed: int, *, shift: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    color_p = [0.2, 0.3, 0.5] if shift else [0.5, 0.3, 0.2]
    return pd.DataFrame(
        {
            "age": rng.normal(40 + (10 if shift else 0), 10, n),
            "score": rng.uniform(0, 1, n),
            "wait": rng.exponential(2.0, n),
            "color": rng.choice(["red", "green", "blue"], n, p=color_p),
            "member": rng.choice([True, False], n),
        }
    )


@pytest.mark.parametrize(
    ("numeric", "categorical"),
    [
        ("normalized_wasserstein", "jensen_shannon"),
        ("kolmogorov_smirnov", "chi_squared"),
        ("population_stability_index", "population_stability_index"),
        ("jensen_shannon", "jensen_shannon"),
    ],
)
def test_exactly_the_shifted_features_drift(numeric: str, categorical: str) -> None:
    config = drift.Config(numeric_metric=numeric, categorical_metric=categorical)
    result = drift.compare(table(2000, 1), table(1000, 2, shift=True), config)
    assert result.status == "ok"
    assert result.drifted == ["age", "color"]
    types = {f.name: f.type for f in result.features}
    assert types == {
        "age": "numeric",
        "score": "numeric",
        "wait": "numeric",
        "color": "categorical",
        "member": "categorical",
    }


@pytest.mark.parametrize("numeric", drift.NUMERIC_METRICS)
def test_identical_and_resampled_data_do_not_drift(numeric: str) -> None:
    base = table(2000, 1)
    config = drift.Config(numeric_metric=numeric, categorical_metric="chi_squared")
    assert drift.compare(base, base, config).drifted == []
    assert drift.compare(base, table(1000, 3), config).drifted == []


def test_missing_and_extra_columns_are_reported() -> None:
    base = table(500, 1)
    target = table(500, 2).drop(columns=["wait"]).assign(new=1.0)
    result = drift.compare(base, target, drift.Config(features=("age", "wait", "nope")))
    assert result.status == "ok"
    assert result.missing == ["wait", "nope"]
    assert result.extra == ["new"]
    by_name = {f.name: f for f in result.features}
    assert by_name["wait"].status == "missing"
    assert by_name["wait"].message == "not in the target"
    assert by_name["nope"].message == "not in the baseline"
    assert by_name["age"].status == "ok"


def test_empty_target_window_and_all_null_features() -> None:
    base = table(500, 1)
    empty = drift.compare(base, pd.DataFrame(), drift.Config())
    assert (empty.status, empty.drifted) == ("no_target_data", [])
    assert "no target rows" in empty.message
    nulls = table(100, 2).assign(age=np.nan)
    result = drift.compare(base, nulls, drift.Config())
    age = next(f for f in result.features if f.name == "age")
    assert (age.status, age.drifted, age.score) == ("no_data", False, None)


def test_bad_config_names_the_choices() -> None:
    with pytest.raises(ValueError, match="numeric metric must be one of"):
        drift.Config(numeric_metric="chi_squared")
    with pytest.raises(ValueError, match="unknown metrics"):
        drift.Config(thresholds={"bogus": 1.0})


def test_cli_writes_json_and_html_with_a_plot_per_feature(tmp_path: Path) -> None:
    table(1000, 1).to_csv(tmp_path / "train.csv", index=False)
    table(500, 2, shift=True).to_parquet(tmp_path / "prod.parquet")
    out = tmp_path / "report"
    code = cli.main(
        ["drift", "--baseline", str(tmp_path / "train.csv"), "--target", f"file://{tmp_path}/prod.parquet",
         "--features", "age,score,color", "--output", str(out)]
    )  # fmt: skip
    assert code == 1  # drift found
    result = json.loads((tmp_path / "report.json").read_text())
    assert result["drifted"] == ["age", "color"]
    assert [f["name"] for f in result["features"]] == ["age", "score", "color"]
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3


def test_cli_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["drift", "--baseline", str(tmp_path / "none.csv"), "--target", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    table(100, 1).to_csv(tmp_path / "b.csv", index=False)
    (tmp_path / "empty").mkdir()
    code = cli.main(
        [
            "drift",
            "--baseline",
            str(tmp_path / "b.csv"),
            "--target",
            str(tmp_path / "empty"),
            "--output",
            str(tmp_path / "r"),
        ]
    )
    assert code == 3
    assert json.loads((tmp_path / "r.json").read_text())["status"] == "no_target_data"
