"""What a loaded model says about itself: its OpenAPI documents and its OIP v2 metadata.

Kept apart from ``swagger`` (document structure) and the scorers (serving) because it is the one
place that knows both: it reads the inference-schema decorators of a script or the signature of an
MLflow model, and turns them into ``/swagger.json`` and ``GET /v2/models/{name}``.
"""

from __future__ import annotations

import json
from typing import Any

from mlendpoints.runtime import swagger, v2
from mlendpoints.runtime.config import Settings

_TYPES = {
    "double": "number",
    "float": "number",
    "long": "integer",
    "integer": "integer",
    "boolean": "boolean",
}
_KIND = {"f": "number", "i": "integer", "u": "integer", "b": "boolean"}
_SCHEMA_TYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}
_MLFLOW_TYPES = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32", "boolean": "BOOL"}


def documents(scorer: Any, settings: Settings, *, auth: bool) -> dict[str, dict[str, Any]]:
    """The swagger documents by version (``2.0``, ``3.0.3``, ``3.1.0``), user files first."""
    raw = scorer.mode == "raw"
    if scorer.kind == "mlflow":
        request, response = mlflow_schemas(scorer.signature, scorer.output_specs)
        versions = ["2.0", "3.0", "3.1"]
        title = "MLflow model"
    else:
        from mlendpoints.runtime.script import schema_documents

        request, response, versions = schema_documents(scorer.run_function)
        title = f"Scoring script {scorer.path.rsplit('/', 1)[-1]}"
    out: dict[str, dict[str, Any]] = {}
    for key, openapi in (("2.0", None), ("3.0.3", "3.0.3"), ("3.1.0", "3.1.0")):
        user = swagger.user_document(settings.source_dir, key)
        if user is not None:
            out[key] = user
            continue
        if not any(v.startswith(key[:3]) or (key == "2.0" and v == "2") for v in versions):
            continue
        doc = swagger.build(
            request_schema=request,
            response_schema=response,
            raw=raw,
            auth=auth,
            title=title,
            version=openapi or "3.0.3",
        )
        if settings.service_name:
            doc["info"]["title"] = settings.service_name
        if settings.service_version:
            doc["info"]["version"] = settings.service_version
        out[key] = swagger.to_swagger2(doc) if openapi is None else doc
    return out


def _tensor_schema(dtype: Any, shape: list[int] | tuple[int, ...]) -> dict[str, Any]:
    import numpy as np

    kind = np.dtype(dtype).kind if dtype is not None else "O"
    schema: dict[str, Any] = {"type": _KIND.get(kind, "string")} if kind in _KIND or kind in "USO" else {}
    if kind == "u":
        schema["minimum"] = 0
    for size in reversed(list(shape)[1:]):
        schema = {"type": "array", "items": schema}
        if size >= 0:
            schema.update(minItems=size, maxItems=size)
    return {"type": "array", "minItems": 1, "items": schema}


def _column_schema(spec: dict[str, Any]) -> dict[str, Any]:
    type_name = spec.get("type")
    if type_name in _TYPES:
        return {"type": _TYPES[type_name]}
    if type_name in ("string", "binary", "datetime"):
        return {"type": "string"}
    return {}


def _one_of(key: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": [key], "properties": {key: schema}, "additionalProperties": False}


def _columns_inputs(signature: Any) -> list[tuple[str, dict[str, Any]]]:
    """(request key, schema) of a column signature: split (columns + rows) and records layouts."""
    specs = [s for s in signature.specs if s.get("name") is not None]
    names = [s["name"] for s in specs]
    cells = {s["name"]: _column_schema(s) for s in specs}
    same = {json.dumps(v, sort_keys=True) for v in cells.values()}
    row: dict[str, Any] = {"type": "array", "minItems": len(names), "maxItems": len(names)}
    row["items"] = json.loads(same.pop()) if len(same) == 1 else {}
    split = {
        "type": "object",
        "required": ["columns", "data"],
        "properties": {
            "columns": {
                "type": "array",
                "items": {"type": "string", "enum": names},
                "minItems": len(names),
                "maxItems": len(names),
                "uniqueItems": True,
            },
            "index": {"type": "array", "items": {"type": "integer"}},
            "data": {"type": "array", "minItems": 1, "items": row},
        },
    }
    record = {"type": "object", "required": list(signature.required), "properties": cells}
    return [
        ("input_data", split),
        ("dataframe_split", split),
        ("dataframe_records", {"type": "array", "minItems": 1, "items": record}),
        ("instances", {"type": "array", "minItems": 1, "items": record}),
    ]


def _inputs(signature: Any) -> list[tuple[str, dict[str, Any]]]:
    """(request key, schema) of every request layout MLflow's scoring server accepts for ``signature``."""
    if signature.kind == "columns":
        return _columns_inputs(signature)
    if signature.kind == "tensor":
        tensor = _tensor_schema(signature.dtype, signature.shape)
        return [(key, tensor) for key in ("input_data", "inputs", "instances")]
    if signature.kind == "tensors":
        named = {
            "type": "object",
            "required": list(signature.required),
            "properties": {
                name: _tensor_schema(dtype, shape) for name, (dtype, shape) in signature.tensors.items()
            },
        }
        return [("input_data", named), ("inputs", named)]
    return [
        (key, {}) for key in ("input_data", "dataframe_split", "dataframe_records", "instances", "inputs")
    ]


def mlflow_schemas(
    signature: Any, output_specs: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request, response) schemas of ``/score`` for an MLflow model's signature.

    The request is one object per accepted layout (``anyOf`` when there are several); the
    response is the predictions (a typed array for a single tensor output), bare or wrapped.
    """
    alternatives = [_one_of(key, schema) for key, schema in _inputs(signature)]
    request = {"anyOf": alternatives} if len(alternatives) > 1 else alternatives[0]
    predictions: dict[str, Any] = {"type": "array"}
    if len(output_specs) == 1 and output_specs[0].get("type") == "tensor":
        spec = output_specs[0]["tensor-spec"]
        predictions = _tensor_schema(spec.get("dtype"), spec.get("shape", [-1]))
        predictions.pop("minItems", None)
    response = {"anyOf": [predictions, {"type": "object", "properties": {"predictions": predictions}}]}
    return request, response


def v2_metadata(scorer: Any, name: str) -> dict[str, Any]:
    """``GET /v2/models/{name}``: inputs/outputs as OIP tensors, from the signature or the decorators."""
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    if scorer.kind == "mlflow":
        platform = "mlflow"
        for spec in scorer.signature.specs:
            inputs.append(_mlflow_tensor(spec, f"input-{len(inputs)}"))
        for spec in scorer.output_specs:
            outputs.append(_mlflow_tensor(spec, f"output-{len(outputs)}"))
    else:
        platform = "azureml-scoring-script"
        from mlendpoints.runtime.script import schema_documents

        request, _, _ = schema_documents(scorer.run_function)
        for param, schema in request.get("properties", {}).items():
            inputs.append({"name": param, "datatype": _leaf_datatype(schema), "shape": [-1]})
    return {"name": name, "versions": [], "platform": platform, "inputs": inputs, "outputs": outputs}


def _mlflow_tensor(spec: dict[str, Any], default_name: str) -> dict[str, Any]:
    if spec.get("type") == "tensor":
        tensor = spec["tensor-spec"]
        import numpy as np

        datatype = v2.datatype_of(np.empty(0, dtype=tensor.get("dtype", "float64")))
        return {
            "name": spec.get("name") or default_name,
            "datatype": datatype,
            "shape": tensor.get("shape", [-1]),
        }
    return {
        "name": spec.get("name") or default_name,
        "datatype": _MLFLOW_TYPES.get(spec.get("type", ""), "BYTES"),
        "shape": [-1],
    }


def _leaf_datatype(schema: dict[str, Any]) -> str:
    while schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        schema = schema["items"]
    return _SCHEMA_TYPES.get(schema.get("type", ""), "BYTES")
