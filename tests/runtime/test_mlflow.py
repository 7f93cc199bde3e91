"""MLflow models without a script: every request format, both signature kinds, 400s that say why."""

from __future__ import annotations

import pandas as pd
import pytest

from mlendpoints.runtime import config, model
from tests.runtime.conftest import COLUMNS

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def tensor_client(make_client, mlflow_tensor_dir):
    return make_client(model_dir=str(mlflow_tensor_dir))


@pytest.fixture
def cols_client(make_client, mlflow_cols_dir):
    return make_client(model_dir=str(mlflow_cols_dir))


def test_auto_detection(mlflow_tensor_dir, tmp_path):
    assert model.make_scorer(config.from_env({}, model_dir=str(mlflow_tensor_dir))).kind == "mlflow"
    # Azure mounts the model folder inside AZUREML_MODEL_DIR: one level down is found too
    assert model.make_scorer(config.from_env({}, model_dir=str(mlflow_tensor_dir.parent))).kind == "mlflow"
    scorer = model.make_scorer(config.from_env({}, model_dir=str(mlflow_tensor_dir), entry_script="score.py"))
    assert scorer.kind == "custom"  # an entry script wins in auto mode
    with pytest.raises(ValueError, match="nothing to serve"):
        model.make_scorer(config.from_env({}, model_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="no MLmodel"):
        model.make_scorer(config.from_env({}, model_dir=str(tmp_path), model_type="mlflow"))


def test_tensor_formats(tensor_client, trained):
    rows = trained.X[:4].tolist()
    expected = trained.model.predict(trained.X[:4]).tolist()
    assert tensor_client.post("/score", json={"input_data": rows}).json() == expected  # Azure: bare list
    for key in ("inputs", "instances"):
        assert tensor_client.post("/score", json={key: rows}).json() == {"predictions": expected}
    split = {"input_data": {"columns": COLUMNS, "index": [0, 1, 2, 3], "data": rows}}
    assert tensor_client.post("/score", json=split).status_code == 400  # a tensor model takes rows
    assert tensor_client.post("/invocations", json={"inputs": rows}).json() == {"predictions": expected}


def test_tensor_ints_are_cast_like_mlflow_serve(tensor_client, trained):
    response = tensor_client.post("/score", json={"inputs": [[1, 2, 3, 4]]})
    assert response.json() == {"predictions": trained.model.predict([[1.0, 2.0, 3.0, 4.0]]).tolist()}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"inputs": [[1.0, 2.0, 3.0]]}, "shape (1, 3)"),
        ({"inputs": [1.0, 2.0, 3.0, 4.0]}, "shape (4,)"),
        ({"inputs": [[1.0, 2.0], [3.0]]}, "cannot be converted"),
        ({"inputs": [["a", "b", "c", "d"]]}, "cannot be converted"),
        ({"inputs": []}, "no rows"),
        ({"inputs": [[1, 2, 3, 4]], "instances": [[1, 2, 3, 4]]}, "exactly one of"),
        ({"data": [[1, 2, 3, 4]]}, "exactly one of"),
        ([[1, 2, 3, 4]], "JSON object"),
    ],
)
def test_tensor_signature_mismatch_is_400(tensor_client, body, reason):
    response = tensor_client.post("/score", json=body)
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]


def test_column_formats(cols_client, cols_model, trained):
    rows = trained.X[:3].tolist()
    expected = cols_model.predict(pd.DataFrame(rows, columns=COLUMNS)).tolist()
    split = {"columns": COLUMNS, "index": [0, 1, 2], "data": rows}
    records = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    assert cols_client.post("/score", json={"input_data": split}).json() == expected
    assert cols_client.post("/score", json={"dataframe_split": split}).json() == {"predictions": expected}
    assert cols_client.post("/score", json={"dataframe_records": records}).json() == {"predictions": expected}
    assert cols_client.post("/score", json={"instances": records}).json() == {"predictions": expected}
    columnar = {name: [row[i] for row in rows] for i, name in enumerate(COLUMNS)}
    assert cols_client.post("/score", json={"inputs": columnar}).json() == {"predictions": expected}
    # rows without column names map onto the signature's columns by position
    assert cols_client.post("/score", json={"input_data": rows}).json() == expected
    # columns in another order are matched by name
    reordered = {"columns": COLUMNS[::-1], "data": [row[::-1] for row in rows]}
    assert cols_client.post("/score", json={"input_data": reordered}).json() == expected
    # integers are cast to the signature's double
    ints = {"columns": COLUMNS, "data": [[1, 2, 3, 4]]}
    assert cols_client.post("/score", json={"input_data": ints}).status_code == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"input_data": {"columns": ["f0", "f1", "f2"], "data": [[1.0, 2.0, 3.0]]}}, "'f3'"),
        ({"dataframe_records": [{"f0": 1.0, "f1": 2.0, "f2": 3.0}]}, "'f3'"),
        ({"input_data": {"columns": COLUMNS, "data": [[1.0, 2.0, "x", 4.0]]}}, "'f2'"),
        ({"input_data": {"columns": COLUMNS, "data": [[1.0, 2.0, 3.0]]}}, "4 values"),
        ({"dataframe_split": {"columns": COLUMNS}}, "list of rows"),
        ({"dataframe_records": [1, 2]}, "list of objects"),
    ],
)
def test_column_signature_mismatch_is_400_naming_the_column(cols_client, body, reason):
    response = cols_client.post("/score", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] in {"SchemaMismatch", "BadRequest"}
    assert reason in response.json()["error"]


def test_mlflow_over_real_http(make_server, mlflow_tensor_dir, trained):
    server = make_server(model_dir=str(mlflow_tensor_dir))
    with server.client() as http:
        response = http.post("/score", json={"input_data": trained.X[:2].tolist()})
    assert response.json() == trained.model.predict(trained.X[:2]).tolist()
