"""What a loaded model says about itself: its OpenAPI documents and its OIP v2 metadata.

Kept apart from ``swagger`` (document structure) and the scorers (serving) because it is the one
place that knows both: it reads the inference-schema decorators of a script or the signature of an
MLflow model, and turns them into ``/swagger.json`` and ``GET /v2/models/{name}``.
"""

from __future__ import annotations

from typing import Any

from mlendpoints.runtime import swagger, v2
from mlendpoints.runtime.config import Settings

_SCHEMA_TYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "string": "BYTES"}
_MLFLOW_TYPES = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32", "boolean": "BOOL"}


def documents(scorer: Any, settings: Settings, *, auth: bool) -> dict[str, dict[str, Any]]:
    """The swagger documents by version (``2.0``, ``3.0.3``, ``3.1.0``), user files first."""
    raw = scorer.mode == "raw"
    if scorer.kind == "mlflow":
        request, response = swagger.mlflow_schemas(scorer.signature, scorer.output_specs)
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
        out[key] = swagger.to_swagger2(doc) if openapi is None else doc
    return out


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
