"""``/swagger.json``: valid Swagger 2.0 / OpenAPI 3.x, with the schema from decorators or signature."""

from __future__ import annotations

import json

import jsonschema
import pytest
from schemathesis.specs.openapi import definitions

from tests.runtime.conftest import COLUMNS

pytestmark = pytest.mark.timeout(180)

META = {"2": definitions.SWAGGER_20, "3": definitions.OPENAPI_30, "3.1": definitions.OPENAPI_31}


def documents(client):
    docs = {}
    for version, meta in META.items():
        response = client.get(f"/swagger.json?version={version}")
        assert response.status_code == 200, (version, response.text)
        doc = response.json()
        validator = jsonschema.Draft202012Validator if version == "3.1" else jsonschema.Draft4Validator
        validator(meta).validate(doc)
        docs[version] = doc
    assert client.get("/swagger.json").json() == docs["2"]  # Swagger 2.0 is the default, as in Azure ML
    return docs


def test_schema_script(make_client, joblib_dir):
    docs = documents(make_client(model_dir=str(joblib_dir), entry_script="score_schema.py"))
    service_input = docs["3"]["components"]["schemas"]["ServiceInput"]
    assert service_input["properties"]["data"]["type"] == "array"
    assert service_input["properties"]["threshold"]["type"] == "number"
    assert service_input["example"]["data"] == [[0.1, 0.2, 0.3, 0.4]]
    assert docs["2"]["definitions"]["ServiceOutput"]["properties"]["labels"]["type"] == "array"
    assert docs["2"]["paths"]["/score"]["post"]["parameters"][0]["schema"] == {
        "$ref": "#/definitions/ServiceInput"
    }


def test_plain_script_gets_a_generic_schema(make_client, joblib_dir):
    docs = documents(make_client(model_dir=str(joblib_dir), entry_script="score.py"))
    assert docs["3"]["components"]["schemas"]["ServiceInput"] == {"type": "object", "example": {}}


def test_mlflow_column_signature(make_client, mlflow_cols_dir):
    docs = documents(make_client(model_dir=str(mlflow_cols_dir)))
    alternatives = docs["3"]["components"]["schemas"]["ServiceInput"]["anyOf"]
    keys = [next(iter(a["properties"])) for a in alternatives]
    assert keys == ["input_data", "dataframe_split", "dataframe_records", "instances"]
    split = alternatives[0]["properties"]["input_data"]
    assert split["properties"]["columns"]["items"]["enum"] == COLUMNS
    assert split["properties"]["data"]["items"]["items"] == {"type": "number"}
    assert alternatives[2]["properties"]["dataframe_records"]["items"]["required"] == COLUMNS


def test_mlflow_tensor_signature(make_client, mlflow_tensor_dir):
    docs = documents(make_client(model_dir=str(mlflow_tensor_dir)))
    alternatives = docs["3"]["components"]["schemas"]["ServiceInput"]["anyOf"]
    tensor = alternatives[0]["properties"]["input_data"]
    assert tensor["items"] == {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}


def test_auth_is_described(make_client, joblib_dir, tmp_path):
    (tmp_path / "primaryKey").write_text("k")
    client = make_client(model_dir=str(joblib_dir), entry_script="score.py", auth_key_dir=str(tmp_path))
    client.headers["Authorization"] = "Bearer k"
    docs = documents(client)
    assert docs["3"]["paths"]["/score"]["post"]["security"] == [{"bearer": []}]
    assert docs["2"]["securityDefinitions"]["bearer"]["in"] == "header"


def test_raw_script_takes_binary(make_client):
    docs = documents(make_client(entry_script="score_raw.py"))
    body = docs["3"]["paths"]["/score"]["post"]["requestBody"]["content"]
    assert list(body) == ["application/octet-stream"]


def test_unknown_version_is_404(make_client, joblib_dir):
    client = make_client(model_dir=str(joblib_dir), entry_script="score.py")
    assert client.get("/swagger.json?version=9").status_code == 404


def test_a_swagger_file_next_to_the_script_wins(make_client, tmp_path):
    (tmp_path / "score.py").write_text("def init():\n    pass\n\n\ndef run(raw_data):\n    return raw_data\n")
    (tmp_path / "swagger3.json").write_text(json.dumps({"openapi": "3.0.3", "info": {"title": "mine"}}))
    client = make_client(source_dir=str(tmp_path), entry_script="score.py")
    assert client.get("/swagger.json?version=3").json()["info"]["title"] == "mine"
    assert client.get("/swagger.json?version=2").json()["swagger"] == "2.0"  # generated
