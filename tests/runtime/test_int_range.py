"""Integers that do not fit a ``long`` / ``integer`` signature column: a 400 naming the column, never
numpy's silent wrap-around to int64's minimum."""

from __future__ import annotations

import numpy as np
import pytest

from mlendpoints.runtime import errors
from mlendpoints.runtime.mlflow_inputs import check_int_range

pytestmark = pytest.mark.timeout(180)

TOO_BIG = 99999999999999999999


@pytest.mark.parametrize(
    ("values", "dtype", "bad"),
    [
        (np.array([1, TOO_BIG], dtype=object), np.int64, TOO_BIG),
        (np.array([-(2**63) - 1], dtype=object), np.int64, -(2**63) - 1),
        (np.array([1.0, 1e20]), np.int64, 1e20),
        (np.array([2.0**31]), np.int32, 2.0**31),
        (np.array([np.inf]), np.int64, np.inf),
        (np.array([np.uint64(2**63)]), np.int64, 2**63),
    ],
)
def test_out_of_range_is_a_schema_mismatch(values, dtype, bad):
    with pytest.raises(errors.SchemaMismatch, match="column 'c'") as caught:
        check_int_range(values, dtype, "column 'c'")
    assert caught.value.status == 400
    assert str(bad) in str(caught.value) or repr(bad) in str(caught.value)


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        (np.array([1, 2**63 - 1, -(2**63)], dtype=object), np.int64),
        (np.array([1.0, -5.0]), np.int32),
        (np.array([2**31 - 1], dtype=np.int64), np.int32),
        (np.array([], dtype=np.float64), np.int64),
    ],
)
def test_in_range_passes(values, dtype):
    check_int_range(values, dtype, "column 'c'")


@pytest.fixture(scope="module")
def long_model_dir(tmp_path_factory):
    """An MLflow model whose signature has long (int64) columns i0, i1 and a double column x."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame(
        {
            "i0": np.arange(20, dtype=np.int64),
            "i1": np.arange(20, dtype=np.int64) * 2,
            "x": np.linspace(0, 1, 20),
        }
    )
    model = LinearRegression().fit(frame, frame["i0"] + frame["x"])
    folder = tmp_path_factory.mktemp("mlflow-long") / "model"
    mlflow.sklearn.save_model(
        model,
        str(folder),
        signature=infer_signature(frame, model.predict(frame)),
        serialization_format="cloudpickle",
    )
    return folder


@pytest.mark.parametrize(
    "body",
    [
        {"input_data": {"columns": ["i0", "i1", "x"], "data": [[1, TOO_BIG, 0.5]]}},
        {"dataframe_records": [{"i0": 1, "i1": TOO_BIG, "x": 0.5}]},
        {"inputs": {"i0": [1], "i1": [TOO_BIG], "x": [0.5]}},
        {"dataframe_split": {"columns": ["i0", "i1", "x"], "data": [[1, 1e20, 0.5]]}},
    ],
)
def test_mlflow_long_column_out_of_range_is_400(make_client, long_model_dir, body):
    client = make_client(model_dir=str(long_model_dir))
    response = client.post("/score", json=body)
    assert response.status_code == 400, response.text
    assert "'i1'" in response.json()["error"]
    assert response.json()["code"] == "SchemaMismatch"
    ok = client.post("/score", json={"dataframe_records": [{"i0": 1, "i1": 2**62, "x": 0.5}]})
    assert ok.status_code == 200, ok.text


def test_tensor_int_input_out_of_range_is_400(tmp_path, make_client):
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    class Identity(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input.sum(axis=1)

    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.int64), (-1, 2))]))
    mlflow.pyfunc.save_model(str(tmp_path / "m"), python_model=Identity(), signature=signature)
    client = make_client(model_dir=str(tmp_path / "m"))
    assert client.post("/score", json={"inputs": [[1, 2]]}).json() == {"predictions": [3]}
    response = client.post("/score", json={"inputs": [[1, TOO_BIG]]})
    assert response.status_code == 400, response.text
    # orjson reads integers beyond 64 bits as floats: the message shows 1e+20
    assert "is not an int64 value" in response.json()["error"]
