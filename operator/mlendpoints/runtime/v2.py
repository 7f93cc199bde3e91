"""Open Inference Protocol (KServe v2 / Triton) REST: tensors in, tensors out.

``POST /v2/models/{name}/infer`` takes ``{"id"?, "inputs": [{"name", "shape", "datatype", "data"}]}``
and answers ``{"model_name", "id", "outputs": [...]}`` with the same tensor encoding (``data`` flat
or nested, row-major). This module only converts between that JSON and numpy; the model decides
what the tensors mean (see ``mlflow_model.parse_v2`` and ``script.ScriptScorer.parse_v2``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from mlendpoints.runtime import errors
from mlendpoints.runtime.asgi import Reply

#: OIP datatype -> numpy dtype (BYTES are Python strings in an object array)
DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": object,
}
_KIND_TO_DATATYPE = {
    "b": "BOOL",
    "f": {2: "FP16", 4: "FP32", 8: "FP64"},
    "i": {1: "INT8", 2: "INT16", 4: "INT32", 8: "INT64"},
    "u": {1: "UINT8", 2: "UINT16", 4: "UINT32", 8: "UINT64"},
}


class Tensor:
    __slots__ = ("array", "datatype", "name")

    def __init__(self, name: str, datatype: str, array: np.ndarray[Any, Any]) -> None:
        self.name = name
        self.datatype = datatype
        self.array = array


def decode_request(body: Any) -> tuple[list[Tensor], str | None]:
    """Validate an inference request and turn its inputs into arrays (400 with the reason if not).

    Returns:
        The input tensors and the request's ``id`` (if any).
    """
    if not isinstance(body, dict):
        raise errors.BadRequest("an inference request is a JSON object with 'inputs'")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise errors.BadRequest("'inputs' must be a non-empty list of tensors")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise errors.BadRequest("'id' must be a string")
    tensors = []
    seen: set[str] = set()
    for index, spec in enumerate(inputs):
        tensor = _decode_tensor(spec, index)
        if tensor.name in seen:
            raise errors.BadRequest(f"input {tensor.name!r} appears twice")
        seen.add(tensor.name)
        tensors.append(tensor)
    return tensors, request_id


def _decode_tensor(spec: Any, index: int) -> Tensor:
    where = f"inputs[{index}]"
    if not isinstance(spec, dict):
        raise errors.BadRequest(f"{where} must be an object with name, shape, datatype and data")
    name, shape, datatype, data = spec.get("name"), spec.get("shape"), spec.get("datatype"), spec.get("data")
    if not isinstance(name, str) or not name:
        raise errors.BadRequest(f"{where}.name must be a non-empty string")
    where = f"input {name!r}"
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise errors.BadRequest(f"{where}: shape must be a list of non-negative integers")
    if datatype not in DATATYPES:
        raise errors.BadRequest(f"{where}: datatype must be one of {', '.join(DATATYPES)}")
    if not isinstance(data, list):
        raise errors.BadRequest(f"{where}: data must be a list")
    try:
        array = np.asarray(data, dtype=DATATYPES[datatype])
    except (ValueError, TypeError, OverflowError) as exc:
        raise errors.BadRequest(f"{where}: data is not a valid {datatype} tensor ({exc})") from None
    expected = math.prod(shape)
    if array.size != expected:
        raise errors.BadRequest(f"{where}: data has {array.size} elements but shape {shape} needs {expected}")
    if datatype == "BYTES" and not all(isinstance(v, str) for v in array.ravel()):
        raise errors.BadRequest(f"{where}: BYTES data must be strings")
    return Tensor(name, datatype, array.reshape(shape))


def datatype_of(array: np.ndarray[Any, Any]) -> str:
    entry = _KIND_TO_DATATYPE.get(array.dtype.kind)
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        return str(entry.get(array.dtype.itemsize, "BYTES"))
    return "BYTES"


def _output(name: str, value: Any) -> dict[str, Any]:
    try:
        array = np.asarray(value)
    except ValueError:  # ragged
        array = np.asarray(
            [orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY).decode() for v in value], dtype=object
        )
    if array.ndim == 0:
        array = array.reshape(1)
    datatype = datatype_of(array)
    if datatype == "BYTES":
        data: list[Any] = [v if isinstance(v, str) else str(v) for v in array.ravel().tolist()]
    else:
        data = array.ravel().tolist()
    return {"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}


def encode_outputs(
    result: Any,
    *,
    model_name: str,
    request_id: str | None = None,
    output_names: list[str] | None = None,
    timing: list[tuple[bytes, bytes]] | None = None,
) -> Reply:
    """An inference response for a model's return value (array, list, dict, DataFrame or Series)."""
    outputs: list[dict[str, Any]]
    if isinstance(result, dict):
        outputs = [_output(str(key), value) for key, value in result.items()]
    elif hasattr(result, "columns") and hasattr(result, "iloc"):  # DataFrame: one tensor per column
        outputs = [_output(str(column), result[column].to_numpy()) for column in result.columns]
    else:
        if hasattr(result, "to_numpy"):
            result = result.to_numpy()
        outputs = [_output(output_names[0] if output_names else "output-0", result)]
    body: dict[str, Any] = {"model_name": model_name, "outputs": outputs}
    if request_id is not None:
        body["id"] = request_id
    return Reply(orjson.dumps(body), 200, b"application/json", list(timing or []))


def server_metadata(version: str) -> dict[str, Any]:
    return {"name": "mlendpoints", "version": version, "extensions": []}
