"""Open Inference Protocol v2 (KServe / Triton clients): health, metadata and the infer round trip."""

from __future__ import annotations

import pytest

from tests.runtime.conftest import COLUMNS

pytestmark = pytest.mark.timeout(180)


def tensor_request(rows, name="input-0", request_id=None):
    body = {
        "inputs": [
            {"name": name, "shape": [len(rows), 4], "datatype": "FP64", "data": [v for r in rows for v in r]}
        ]
    }
    if request_id:
        body["id"] = request_id
    return body


def test_health_and_server_metadata(make_client, mlflow_tensor_dir):
    client = make_client(model_dir=str(mlflow_tensor_dir))
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/model/ready").json() == {"name": "model", "ready": True}
    assert client.get("/v2").json()["name"] == "mlendpoints"


def test_metadata_from_the_signature(make_client, mlflow_tensor_dir, mlflow_cols_dir):
    tensor = make_client(model_dir=str(mlflow_tensor_dir), model_name="iris").get("/v2/models/iris").json()
    assert tensor["platform"] == "mlflow"
    assert tensor["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert tensor["outputs"] == [{"name": "output-0", "datatype": "INT64", "shape": [-1]}]
    cols = make_client(model_dir=str(mlflow_cols_dir)).get("/v2/models/model/versions/1").json()
    assert [i["name"] for i in cols["inputs"]] == COLUMNS
    assert {i["datatype"] for i in cols["inputs"]} == {"FP64"}


def test_round_trip_tensor_model(make_server, mlflow_tensor_dir, trained):
    server = make_server(model_dir=str(mlflow_tensor_dir), model_name="clf")
    rows = trained.X[:3].tolist()
    with server.client() as http:
        response = http.post("/v2/models/clf/infer", json=tensor_request(rows, request_id="r-1"))
    body = response.json()
    assert response.status_code == 200, body
    assert body["model_name"] == "clf"
    assert body["id"] == "r-1"
    (output,) = body["outputs"]
    assert output["datatype"] == "INT64"
    assert output["shape"] == [3]
    assert output["data"] == trained.model.predict(trained.X[:3]).tolist()


def test_round_trip_column_model(make_client, mlflow_cols_dir, cols_model, trained):
    import pandas as pd

    rows = trained.X[:2]
    inputs = [
        {"name": name, "shape": [2], "datatype": "FP64", "data": rows[:, i].tolist()}
        for i, name in enumerate(COLUMNS)
    ]
    response = make_client(model_dir=str(mlflow_cols_dir)).post(
        "/v2/models/model/infer", json={"inputs": inputs}
    )
    assert response.status_code == 200, response.text
    assert (
        response.json()["outputs"][0]["data"]
        == cols_model.predict(pd.DataFrame(rows, columns=COLUMNS)).tolist()
    )


def test_round_trip_script(make_client, joblib_dir, trained):
    client = make_client(model_dir=str(joblib_dir), entry_script="score.py")
    response = client.post("/v2/models/model/infer", json=tensor_request(trained.X[:2].tolist(), name="data"))
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert output["data"] == trained.model.predict(trained.X[:2]).tolist()


def test_round_trip_schema_script(make_client, joblib_dir, trained):
    client = make_client(model_dir=str(joblib_dir), entry_script="score_schema.py")
    response = client.post("/v2/models/model/infer", json=tensor_request(trained.X[:2].tolist(), name="data"))
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["labels"]["datatype"] == "INT64"
    assert len(outputs["labels"]["data"]) == 2
    assert outputs["threshold"]["data"] == [0.5]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "'inputs'"),
        ({"inputs": []}, "'inputs'"),
        ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP99", "data": [1, 2, 3, 4]}]}, "datatype"),
        ({"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}, "needs 8"),
        (
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": ["a", 2, 3, 4]}]},
            "valid FP64",
        ),
        ({"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}, "shape (1, 3)"),
        (
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "INT8", "data": [1, 2, 3, 999]}]},
            "valid INT8",
        ),
        ({"inputs": [{"name": "x", "shape": [0, 4], "datatype": "FP64", "data": []}]}, "no rows"),
        ({"inputs": [{"name": "x", "shape": [-1], "datatype": "FP64", "data": [1]}]}, "non-negative"),
        ({"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}, "name"),
    ],
)
def test_bad_infer_requests_are_400(make_client, mlflow_tensor_dir, body, reason):
    response = make_client(model_dir=str(mlflow_tensor_dir)).post("/v2/models/model/infer", json=body)
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]


def test_unknown_model_is_404(make_client, mlflow_tensor_dir):
    client = make_client(model_dir=str(mlflow_tensor_dir))
    assert client.get("/v2/models/other").status_code == 404
    assert client.post("/v2/models/other/infer", json=tensor_request([[1, 2, 3, 4]])).status_code == 404


def test_raw_scripts_refuse_v2(make_client):
    response = make_client(entry_script="score_raw.py").post(
        "/v2/models/model/infer", json=tensor_request([[1, 2, 3, 4]])
    )
    assert response.status_code == 400
