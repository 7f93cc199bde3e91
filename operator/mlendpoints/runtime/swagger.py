"""``GET /swagger.json``: the OpenAPI document of this server, with the model's own input schema.

Like azureml-inference-server-http, ``?version=2`` (the default) gives Swagger 2.0 and ``?version=3``
OpenAPI 3.0 (``3.1`` too); a ``swagger2.json`` / ``swagger3.json`` / ``swagger.json`` next to the
scoring script is served instead when present. The request schema of ``/score`` comes from the
script's inference-schema decorators (``@input_schema`` / ``@output_schema``) or from the MLflow
signature (one alternative per accepted request format); a plain script gets a generic object.
The Open Inference Protocol and health routes are described too, so generic clients and fuzzers
(the tests run schemathesis on it) see the whole surface.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from mlendpoints import __version__
from mlendpoints.runtime import errors, v2

VERSIONS = {"2": "2.0", "2.0": "2.0", "3": "3.0.3", "3.0": "3.0.3", "3.1": "3.1.0"}
_TYPES = {
    "double": "number",
    "float": "number",
    "long": "integer",
    "integer": "integer",
    "boolean": "boolean",
}
_KIND = {"f": "number", "i": "integer", "u": "integer", "b": "boolean"}


def _error_responses(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Bad input (malformed JSON, schema or signature mismatch)",
        401: "Missing or wrong key",
        404: "Unknown model",
        408: "Scoring took longer than the request timeout",
        413: "Body over the size limit",
        415: "Unsupported content type",
        429: "Too many requests waiting",
        500: "The scoring code raised",
        503: "Not ready, or waited too long for a free slot",
    }
    error = {"$ref": "#/components/schemas/Error"}
    return {
        str(code): {"description": reasons[code], "content": {"application/json": {"schema": error}}}
        for code in codes
    }


def json_of(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


#: Status codes ``/score`` and ``infer`` can answer with an Error body.
_FAILS = (400, 401, 408, 413, 415, 429, 500, 503)


@dataclass(frozen=True)
class _Operation:
    """One operation of the document: what :func:`_operation` turns into an OpenAPI operation."""

    path: str
    method: str
    operation_id: str
    #: (status, description, "text" or a component schema name)
    responses: tuple[tuple[int, str, str], ...]
    errors: tuple[int, ...] = ()
    summary: str | None = None
    #: Needs the key when the endpoint has one.
    secured: bool = False
    #: Has the ``{model_name}`` path parameter.
    model_param: bool = False
    #: Request body: a component schema name, or "score" (ServiceInput, or raw bytes for raw scripts).
    body: str | None = None


#: Every route the runtime serves (runtime/app.py), in document order.
OPERATIONS = (
    _Operation("/", "get", "liveness", ((200, "Healthy", "text"), (503, "Unhealthy", "text")), summary="Liveness probe"),
    _Operation("/readyz", "get", "readiness", ((200, "Ready", "text"), (503, "Not ready", "text")), summary="Readiness probe"),
    _Operation("/score", "post", "score", ((200, "Predictions", "ServiceOutput"),), _FAILS, summary="Score", secured=True, body="score"),
    _Operation("/v2/health/live", "get", "v2_live", ((200, "Live", "Health"),)),
    _Operation("/v2/health/ready", "get", "v2_ready", ((200, "Ready", "Health"), (503, "Not ready", "Health"))),
    _Operation("/v2/models/{model_name}", "get", "v2_metadata", ((200, "Model metadata", "ModelMetadata"),), (401, 404), secured=True, model_param=True),
    _Operation("/v2/models/{model_name}/ready", "get", "v2_model_ready", ((200, "Ready", "Health"),), (404, 503), model_param=True),
    _Operation("/v2/models/{model_name}/infer", "post", "v2_infer", ((200, "Outputs", "InferenceResponse"),), (404, *_FAILS), secured=True, model_param=True, body="InferenceRequest"),
)  # fmt: skip


def _operation(op: _Operation, *, raw: bool, auth: bool) -> dict[str, Any]:
    """The OpenAPI 3 operation object of ``op`` (``raw``: /score takes bytes; ``auth``: bearer key)."""
    out: dict[str, Any] = {"operationId": op.operation_id}
    if op.summary:
        out["summary"] = op.summary
    if op.secured:
        out["security"] = [{"bearer": []}] if auth else []
    if op.model_param:
        out["parameters"] = [
            {"name": "model_name", "in": "path", "required": True, "schema": {"type": "string"}}
        ]
    if op.body == "score" and raw:
        out["requestBody"] = {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    elif op.body:
        out["requestBody"] = {
            "required": True,
            "content": json_of("ServiceInput" if op.body == "score" else op.body),
        }
    responses: dict[str, Any] = {}
    for status, description, content in op.responses:
        media = {"text/plain": {"schema": {"type": "string"}}} if content == "text" else json_of(content)
        responses[str(status)] = {"description": description, "content": media}
    out["responses"] = {**responses, **_error_responses(*op.errors)}
    return out


def _v2_schemas() -> dict[str, Any]:
    """Component schemas of errors, health and the Open Inference Protocol (a fresh copy per call)."""
    tensor_in = {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "enum": list(v2.DATATYPES)},
            "parameters": {"type": "object"},
            "data": {"type": "array"},
        },
    }
    return {
        "Error": {
            "type": "object",
            "properties": {
                "error": {"type": "string"},
                "message": {"type": "string"},
                "code": {"type": "string"},
                "request_id": {"type": "string"},
            },
        },
        "Health": {"type": "object"},
        "ModelMetadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "platform": {"type": "string"},
                "inputs": {"type": "array"},
                "outputs": {"type": "array"},
            },
        },
        "InferenceRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": {"type": "object"},
                "inputs": {"type": "array", "minItems": 1, "items": tensor_in},
            },
        },
        "InferenceResponse": {
            "type": "object",
            "required": ["model_name", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {"type": "array"},
            },
        },
    }


def build(
    *,
    request_schema: dict[str, Any],
    response_schema: dict[str, Any],
    raw: bool,
    auth: bool,
    title: str,
    version: str = "3.0.3",
) -> dict[str, Any]:
    """The OpenAPI document (3.x; :func:`to_swagger2` converts it) of :data:`OPERATIONS`.

    Args:
        request_schema: JSON schema of the ``/score`` body (``ServiceInput``).
        response_schema: JSON schema of its answer (``ServiceOutput``).
        raw: the script takes raw bytes (``/score`` then accepts application/octet-stream).
        auth: the endpoint has keys (secured operations then require a bearer key).
        title: ``info.title``.
        version: the ``openapi`` version written (3.0.3 or 3.1.0).
    """
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, raw=raw, auth=auth)
    schemas = {"ServiceInput": request_schema, "ServiceOutput": response_schema, **_v2_schemas()}
    doc: dict[str, Any] = {
        "openapi": version,
        "info": {"title": title, "version": __version__, "description": "mlendpoints scoring runtime"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if auth:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return doc


def to_swagger2(doc: dict[str, Any]) -> dict[str, Any]:
    """Convert the document :func:`build` makes to Swagger 2.0 (only the constructs it uses)."""
    text = json.dumps(doc).replace("#/components/schemas/", "#/definitions/")
    doc = _without_alternatives(json.loads(text))
    out: dict[str, Any] = {
        "swagger": "2.0",
        "info": doc["info"],
        "schemes": ["http"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": {},
        "definitions": doc["components"]["schemas"],
    }
    if "securitySchemes" in doc["components"]:
        out["securityDefinitions"] = {"bearer": {"type": "apiKey", "name": "Authorization", "in": "header"}}
    for path, operations in doc["paths"].items():
        out["paths"][path] = {}
        for method, op in operations.items():
            new = {k: v for k, v in op.items() if k not in ("requestBody", "responses", "parameters")}
            params = [
                {"name": p["name"], "in": p["in"], "required": p["required"], "type": "string"}
                for p in op.get("parameters", [])
            ]
            if "requestBody" in op:
                media, body = next(iter(op["requestBody"]["content"].items()))
                schema = body["schema"]
                if media == "application/octet-stream":
                    new["consumes"] = [media]
                    schema = {"type": "string", "format": "binary"}
                params.append({"name": "body", "in": "body", "required": True, "schema": schema})
            if params:
                new["parameters"] = params
            new["responses"] = {}
            for code, response in op["responses"].items():
                media_map = response.get("content", {})
                entry = {"description": response["description"]}
                if media_map:
                    media, content = next(iter(media_map.items()))
                    entry["schema"] = content["schema"]
                    if media != "application/json":
                        new["produces"] = [media]
                new["responses"][code] = entry
            out["paths"][path][method] = new
    return out


def _without_alternatives(node: Any) -> Any:
    """Swagger 2.0 has no ``anyOf``: alternatives of single-key objects become one object with
    every key allowed and exactly one present; anything else becomes an unconstrained schema."""
    if isinstance(node, list):
        return [_without_alternatives(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _without_alternatives(value) for key, value in node.items()}
    alternatives = node.pop("anyOf", None) or node.pop("oneOf", None)
    if alternatives is None:
        return node
    if all(isinstance(a, dict) and a.get("type") == "object" and "properties" in a for a in alternatives):
        properties: dict[str, Any] = {}
        for alternative in alternatives:
            properties.update(alternative["properties"])
        single = all(len(a["properties"]) == 1 and a.get("required") for a in alternatives)
        merged = {"type": "object", "properties": properties, **node}
        return {**merged, "minProperties": 1, "maxProperties": 1} if single else merged
    return {**node, "description": "one of several layouts (see the OpenAPI 3 document)"}


def user_document(source_dir: str | None, version: str) -> dict[str, Any] | None:
    """A swagger file shipped with the scoring code, if any (it wins over the generated one)."""
    if not source_dir:
        return None
    names = ["swagger.json", "swagger2.json"] if version == "2.0" else [f"swagger{version[0]}.json"]
    for name in names:
        path = os.path.join(source_dir, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                loaded: dict[str, Any] = json.load(handle)
                return loaded
    return None


def select(documents: dict[str, dict[str, Any]], requested: str | None) -> dict[str, Any]:
    """The document for ``?version=`` (404 for unknown versions, as azureml-inference-server-http does)."""
    key = VERSIONS.get(requested or "2")
    if key is None or key not in documents:
        raise errors.NotFound(f"swagger version {requested!r} is not available; use one of 2, 3, 3.1")
    return documents[key]
