"""Helpers for the batch runner tests: real files, real scripts, real worker processes."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlendpoints.batch.config import Input, RunConfig
from mlendpoints.batch.runner import Outcome, run_index


def write_script(folder: Path, body: str, name: str = "score.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def make_files(folder: Path, names: list[str], content: Callable[[str], bytes] | None = None) -> list[str]:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content(name) if content else name.encode())
    return sorted(names)


def read_log(out: Path, name: str) -> str:
    return (out / "logs" / "user" / name).read_text()


@pytest.fixture
def run_job(tmp_path: Path) -> Callable[..., tuple[Outcome, Path]]:
    """``run_job(script_body, inputs_dir, **settings) -> (outcome, output dir)``."""

    def run(
        script: str | None, inputs: Path, *, model_dir: Path | None = None, **settings: Any
    ) -> tuple[Outcome, Path]:
        out = Path(settings.pop("output", tmp_path / "out"))
        code = tmp_path / "code"
        if script is not None:
            write_script(code, script)
        config = RunConfig(
            inputs=(Input("data", str(inputs)),),
            output=str(out),
            model_dir=str(model_dir) if model_dir else None,
            source_dir=str(code) if script is not None else None,
            entry_script="score.py" if script is not None else None,
            **settings,
        )
        return run_index(config), out

    return run


COLUMNS = ["f0", "f1", "f2", "f3"]


@pytest.fixture(scope="session")
def mlflow_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """An sklearn classifier saved as an MLflow model with a column signature (f0..f3, double);
    returns (model folder, fitted estimator)."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=200, n_features=4, n_informative=3, n_redundant=1, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    model = LogisticRegression(random_state=0).fit(frame, y)
    folder = tmp_path_factory.mktemp("mlflow") / "model"
    signature = infer_signature(frame.head(), model.predict(frame.head()))
    mlflow.sklearn.save_model(model, str(folder), signature=signature, serialization_format="cloudpickle")
    return folder, model
