"""MLflow models served without a script: MLflow's own ``python_function`` loader, signature enforced.

The model is loaded with ``mlflow.pyfunc.load_model`` (flavors are MLflow's business, not ours) and
every prediction goes through ``PyFuncModel.predict``, so MLflow enforces the signature as it does
in its own server. Before that, :mod:`.mlflow_inputs` converts the request with the signature's
types and rejects what cannot match with a 400 that names the column or the shape; MLflow's own
enforcement errors are 400s too (never 500s, unlike most peers).

Micro-batching: requests with the same layout are merged into one ``predict`` call and the
predictions are split back by row counts; if the merged call fails, or its output cannot be split
per row, each request is scored on its own so every client gets its own precise answer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from mlendpoints.runtime import encoding, errors, mlflow_inputs, v2
from mlendpoints.runtime.asgi import JSON, Reply, Request, parse_json
from mlendpoints.runtime.mlflow_inputs import MlflowItem

log = logging.getLogger("mlendpoints.runtime.mlflow")

#: MLflow column types -> the numpy dtype the request's values are cast to
_COLUMN_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
}


def find_model(model_dir: str | None) -> str | None:
    """The folder holding ``MLmodel``: ``model_dir`` itself or its only model sub-folder (Azure's layout)."""
    if not model_dir or not os.path.isdir(model_dir):
        return None
    if os.path.isfile(os.path.join(model_dir, "MLmodel")):
        return model_dir
    found = [
        root
        for root, _dirs, files in os.walk(model_dir)
        if "MLmodel" in files and root.count(os.sep) - model_dir.rstrip(os.sep).count(os.sep) <= 2
    ]
    return found[0] if len(found) == 1 else None


class Signature:
    """The model's input signature, flattened for fast checks (``kind``: columns/tensor/tensors/none)."""

    def __init__(self, schema: Any) -> None:
        self.kind = "none"
        self.names: list[str] = []
        self.required: list[str] = []
        self.column_types: dict[str, Any] = {}
        #: the one numpy dtype of all columns, when they share one (fast DataFrame construction)
        self.uniform: Any = None
        self.dtype: Any = None
        self.shape: tuple[int, ...] = ()
        self.tensors: dict[str, tuple[Any, tuple[int, ...]]] = {}
        self.specs: list[dict[str, Any]] = []
        if schema is None:
            return
        import numpy as np

        self.specs = schema.to_dict()
        if schema.is_tensor_spec():
            specs = schema.inputs
            if len(specs) == 1:
                self.kind, self.dtype, self.shape = "tensor", specs[0].type, tuple(specs[0].shape)
                self.names = [specs[0].name] if specs[0].name else []
            else:
                self.kind = "tensors"
                self.tensors = {spec.name: (spec.type, tuple(spec.shape)) for spec in specs}
                self.names = list(self.tensors)
                self.required = [spec.name for spec in specs if getattr(spec, "required", True)]
            return
        self.kind = "columns"
        for spec in schema.inputs:
            name = spec.name if spec.name is not None else str(len(self.names))
            self.names.append(name)
            if getattr(spec, "required", True):
                self.required.append(name)
            type_name = getattr(spec.type, "name", None)
            self.column_types[name] = (
                np.dtype(_COLUMN_DTYPES[type_name]) if type_name in _COLUMN_DTYPES else None
            )
        dtypes = set(self.column_types.values())
        if len(dtypes) == 1 and None not in dtypes and self.required == self.names:
            self.uniform = dtypes.pop()


class MlflowScorer:
    kind = "mlflow"
    mode = "mlflow"
    batchable = True

    def __init__(self, model_path: str) -> None:
        self.path = model_path
        self.model: Any = None
        self.signature = Signature(None)
        self.output_specs: list[dict[str, Any]] = []

    def load(self) -> None:
        import mlflow
        import mlflow.pyfunc

        self.model = mlflow.pyfunc.load_model(self.path)
        self.signature = Signature(self.model.metadata.get_input_schema())
        outputs = self.model.metadata.get_output_schema()
        self.output_specs = outputs.to_dict() if outputs is not None else []
        log.info(
            "MLflow model loaded",
            extra={
                "path": self.path,
                "signature": self.signature.kind,
                "inputs": self.signature.names,
                # the deployment's environment decides (MLflow 2.16+ and 3.x both work)
                "mlflow_version": getattr(mlflow, "__version__", "?"),
            },
        )

    # -- decoding (event loop) ----------------------------------------------------------------------

    def parse(self, request: Request) -> tuple[MlflowItem, int]:
        item = mlflow_inputs.parse(parse_json(request.body))
        return item, item.rows

    def parse_v2(self, tensors: list[v2.Tensor], context: tuple[str, str | None]) -> tuple[MlflowItem, int]:
        item = MlflowItem(
            mlflow_inputs.TENSORS,
            {t.name: t.array for t in tensors},
            protocol="v2",
            context=context,
        )
        return item, item.rows

    # -- scoring (worker threads) ---------------------------------------------------------------------

    def predict(self, item: MlflowItem) -> Any:
        data = mlflow_inputs.convert(item, self.signature)
        try:
            return self.model.predict(data, params=item.params) if item.params else self.model.predict(data)
        except Exception as exc:
            if type(exc).__name__ == "MlflowException" and getattr(exc, "error_code", "") in {
                "INVALID_PARAMETER_VALUE",
                "BAD_REQUEST",
            }:
                # MLflow's message starts with the whole input's repr; keep only the reason.
                raise errors.SchemaMismatch(str(exc).rsplit("Error: ", 1)[-1].strip()[:600]) from exc
            if isinstance(exc, ValueError | TypeError):
                # Past signature enforcement, flavors reject bad values this way (sklearn: "Input X
                # contains NaN"): the client's input, so a 400 that says why, not a 500.
                raise errors.BadRequest(f"the model rejected the input: {errors.short(exc)}") from exc
            raise

    def score_one(self, item: MlflowItem) -> Reply:
        return self.encode(self.predict(item), item)

    def score_many(self, items: Sequence[MlflowItem]) -> list[Any]:
        groups: dict[Any, list[int]] = {}
        for index, item in enumerate(items):
            key = mlflow_inputs.merge_key(item)
            groups.setdefault(key if key is not None else ("single", index), []).append(index)
        outcomes: list[Any] = [None] * len(items)
        for indexes in groups.values():
            group = [items[i] for i in indexes]
            if len(group) > 1:
                try:
                    parts = split(self.predict(mlflow_inputs.merge(group)), [item.rows for item in group])
                    for i, item, part in zip(indexes, group, parts, strict=True):
                        outcomes[i] = self._safe_encode(part, item)
                    continue
                except Exception as exc:
                    log.debug("merged predict failed (%s); scoring %d requests one by one", exc, len(group))
            for i, item in zip(indexes, group, strict=True):
                try:
                    outcomes[i] = self.score_one(item)
                except Exception as exc:
                    outcomes[i] = exc
        return outcomes

    def _safe_encode(self, result: Any, item: MlflowItem) -> Any:
        try:
            return self.encode(result, item)
        except Exception as exc:
            return exc

    def encode(self, result: Any, item: MlflowItem) -> Reply:
        if item.protocol == "v2":
            name, request_id = item.context or ("model", None)
            names = [spec["name"] for spec in self.output_specs if spec.get("name")]
            return v2.encode_outputs(
                result, model_name=name, request_id=request_id, output_names=names or None
            )
        body = encoding.dumps(jsonable(result))
        if item.protocol == "mlflow":
            body = b'{"predictions":' + body + b"}"  # wrapped after encoding: keeps numpy's fast path
        return Reply(body, 200, JSON)


def jsonable(result: Any) -> Any:
    """MLflow's prediction encoding: DataFrame -> records, Series -> array, others as they are."""
    if hasattr(result, "columns") and hasattr(result, "to_dict"):
        return result.to_dict(orient="records")
    if hasattr(result, "to_numpy"):
        return result.to_numpy()
    return result


def split(result: Any, sizes: list[int]) -> list[Any]:
    """Cut a merged prediction back into one part per request (``ValueError`` when it cannot)."""
    total = sum(sizes)
    if isinstance(result, dict):
        columns = {key: split(value, sizes) for key, value in result.items()}
        return [{key: parts[i] for key, parts in columns.items()} for i in range(len(sizes))]
    if not hasattr(result, "__len__") or len(result) != total:
        raise ValueError(f"prediction has {getattr(result, '__len__', lambda: '?')()} rows, expected {total}")
    parts = []
    start = 0
    for size in sizes:
        if hasattr(result, "iloc"):
            parts.append(result.iloc[start : start + size])
        else:
            parts.append(result[start : start + size])
        start += size
    return parts
