"""The runtime under MLflow 2 (a deployment whose environment pins ``mlflow<3``); the rest of the
suite runs MLflow 3.

A cached venv (:func:`tests.venvs.ensure`) holds the runtime's dependencies as ``pyproject.toml``
lists them, with ``mlflow-skinny`` pinned to 2.x and a pandas 2 as MLflow 2 expects; the runtime
itself runs from this checkout (``PYTHONPATH=operator``), as it does in a pod where the
pip-install init container puts the deployment's packages first on ``PYTHONPATH``. In that venv
the test trains and saves models with MLflow 2 (as a user's MLflow 2 training job would), starts
``mlendpoints serve`` on a free loopback port and scores over HTTP.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import httpx
import pytest

from tests import venvs
from tests.runtime.conftest import wait_until
from tests.runtime.test_cli import free_port

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
MLFLOW2 = "mlflow-skinny==2.22.5"
#: what MLflow 2 itself needs next to the runtime's extra (pandas 2; a scikit-learn of its time)
PINS = ("pandas==2.2.3", "numpy==2.2.6", "scikit-learn==1.6.1", "cloudpickle")

TRAIN = """
import json, sys
import mlflow, mlflow.sklearn, numpy as np, pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

assert mlflow.__version__.startswith("2."), mlflow.__version__
out = sys.argv[1]
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(60, 3)).round(4), columns=["a", "b", "c"])
y = (X["a"] + X["b"] > 0).astype(int)
model = LogisticRegression().fit(X, y)
mlflow.sklearn.save_model(model, out + "/cols", signature=infer_signature(X, model.predict(X)),
                          serialization_format="cloudpickle")
tensor = LogisticRegression().fit(X.to_numpy(), y)
mlflow.sklearn.save_model(tensor, out + "/tensor", signature=infer_signature(X.to_numpy(), tensor.predict(X.to_numpy())),
                          serialization_format="cloudpickle")
json.dump({"rows": X[:4].to_numpy().tolist(), "cols": model.predict(X[:4]).tolist(),
           "tensor": tensor.predict(X[:4].to_numpy()).tolist(), "version": mlflow.__version__},
          open(out + "/expected.json", "w"))
"""

#: an MLflow 2-era scoring script (Azure's generated MLflow script of that time used these helpers)
SCRIPT = """
import os

import mlflow
from mlflow.pyfunc.scoring_server import infer_and_parse_json_input

model = None


def init():
    global model
    model = mlflow.pyfunc.load_model(os.path.join(os.environ["AZUREML_MODEL_DIR"], "cols"))


def run(raw_data):
    frame = infer_and_parse_json_input(raw_data, model.metadata.get_input_schema())
    return {"mlflow": mlflow.__version__, "predictions": model.predict(frame).tolist()}
"""


def _packages() -> tuple[str, ...]:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "runtime"
    ]
    runtime = [
        MLFLOW2 if re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0] == "mlflow-skinny" else req for req in extra
    ]
    return (MLFLOW2, *sorted(set(runtime) - {MLFLOW2}), *PINS)


@pytest.fixture(scope="module")
def mlflow2_python(request: pytest.FixtureRequest) -> str:
    return str(venvs.ensure("mlflow2-runtime", _packages(), config=request.config) / "bin" / "python")


@pytest.fixture(scope="module")
def models(mlflow2_python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mlflow2-models")
    # cwd: MLflow may create a local tracking folder (mlruns/) where it runs
    subprocess.run([mlflow2_python, "-c", TRAIN, str(folder)], check=True, timeout=300, cwd=folder)
    (folder / "src").mkdir()
    (folder / "src" / "score.py").write_text(textwrap.dedent(SCRIPT))
    return folder


def _serve(python: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AZUREML_", "MLENDPOINTS_", "PYTHON"))}
    full |= env | {
        "PYTHONPATH": str(ROOT / "operator"),
        "MLENDPOINTS_HOST": "127.0.0.1",
        "MLENDPOINTS_PORT": str(port),
    }
    command = [
        python,
        "-c",
        "import sys; from mlendpoints.runtime.cli import main; sys.exit(main(sys.argv[1:]))",
    ]
    process = subprocess.Popen(command, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read().decode() if process.stdout else "exited")
        try:
            return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=180, interval=0.3)
    return process, base


def _stop(process: subprocess.Popen[bytes]) -> list[dict[str, object]]:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]


def test_mlflow2_models(mlflow2_python, models):
    expected = json.loads((models / "expected.json").read_text())
    rows = expected["rows"]
    process, base = _serve(mlflow2_python, {"AZUREML_MODEL_DIR": str(models / "cols")}, models)
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            split = {"input_data": {"columns": ["a", "b", "c"], "data": rows}}
            assert http.post("/score", json=split).json() == expected["cols"]
            records = [dict(zip("abc", row, strict=True)) for row in rows]
            assert http.post("/invocations", json={"dataframe_records": records}).json() == {
                "predictions": expected["cols"]
            }
            missing = http.post("/score", json={"input_data": {"columns": ["a", "b"], "data": [[1, 2]]}})
            assert missing.status_code == 400
            assert "c" in missing.json()["error"]
    finally:
        lines = _stop(process)
    loaded = [line for line in lines if line["message"] == "MLflow model loaded"]
    assert loaded
    assert loaded[0]["mlflow_version"] == expected["version"]
    assert str(expected["version"]).startswith("2.")

    process, base = _serve(mlflow2_python, {"AZUREML_MODEL_DIR": str(models / "tensor")}, models)
    try:
        response = httpx.post(f"{base}/score", json={"input_data": rows}, timeout=30)
        assert response.json() == expected["tensor"]
    finally:
        _stop(process)


def test_mlflow2_era_scoring_script(mlflow2_python, models):
    expected = json.loads((models / "expected.json").read_text())
    env = {
        "AZUREML_MODEL_DIR": str(models),
        "AZUREML_SOURCE_DIRECTORY": str(models / "src"),
        "AZUREML_ENTRY_SCRIPT": "score.py",
    }
    process, base = _serve(mlflow2_python, env, models)
    try:
        body = {"dataframe_split": {"columns": ["a", "b", "c"], "data": expected["rows"]}}
        response = httpx.post(f"{base}/score", json=body, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == {"mlflow": expected["version"], "predictions": expected["cols"]}
    finally:
        _stop(process)


def test_this_suite_runs_mlflow_3_otherwise():
    import mlflow

    assert mlflow.__version__.startswith("3."), mlflow.__version__
    assert sys.version_info >= (3, 11)
