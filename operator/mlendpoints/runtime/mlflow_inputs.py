"""MLflow request formats -> model input, checked against the signature (400s name the column/shape).

Accepted bodies (exactly one of these keys, plus optional ``params``):

- ``input_data`` (Azure ML's MLflow format): ``{"columns": [...], "index": [...], "data": [[...]]}``
  (pandas split orientation), a list of rows, or ``{name: values}`` (named tensors / columns);
  answered with the bare predictions, as Azure ML does;
- ``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs`` (MLflow's scoring server);
  answered with ``{"predictions": ...}``.

:func:`parse` runs on the event loop and only inspects the JSON's structure (cheap); :func:`convert`
runs in a worker thread and builds the numpy array / DataFrame, casting to the signature's types the
way MLflow's own scoring server does. Requests with the same structure can be merged first
(:func:`merge_key`, :func:`merge`), which is how micro-batching scores many requests in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlendpoints.runtime import errors

ROWS, RECORDS, COLUMNAR, TENSORS = "rows", "records", "columnar", "tensors"
FORMATS = ("input_data", "dataframe_split", "dataframe_records", "instances", "inputs")


class MlflowItem:
    """One request's input, not yet converted: ``form`` says how ``data`` is laid out."""

    __slots__ = ("columns", "context", "data", "form", "params", "protocol", "rows")

    def __init__(
        self,
        form: str,
        data: Any,
        *,
        protocol: str,
        columns: list[str] | None = None,
        params: dict[str, Any] | None = None,
        context: tuple[str, str | None] | None = None,
    ) -> None:
        self.form = form
        self.data = data
        self.protocol = protocol
        self.columns = columns
        self.params = params
        #: (model name, request id) for v2 replies
        self.context = context
        self.rows = _count_rows(form, data)


def _count_rows(form: str, data: Any) -> int:
    if form in (ROWS, RECORDS):
        return len(data)
    first = next(iter(data.values()), None) if isinstance(data, dict) else None
    if form == TENSORS:
        shape = getattr(first, "shape", ())
        return int(shape[0]) if shape else 1
    return len(first) if isinstance(first, list) else 1


def parse(body: Any) -> MlflowItem:
    """Classify a decoded JSON body (400 when it is none of the accepted formats)."""
    if not isinstance(body, dict):
        raise errors.BadRequest(f"expected a JSON object with one of {', '.join(FORMATS)}")
    present = [key for key in FORMATS if key in body]
    extra = set(body) - set(FORMATS) - {"params"}
    if len(present) != 1 or extra:
        raise errors.BadRequest(
            f"expected exactly one of {', '.join(FORMATS)} (plus optional params); got {sorted(body)}"
        )
    key = present[0]
    value = body[key]
    params = body.get("params")
    if params is not None and not isinstance(params, dict):
        raise errors.BadRequest("params must be a JSON object")
    protocol = "azureml" if key == "input_data" else "mlflow"
    if (
        key in ("input_data", "dataframe_split")
        and isinstance(value, dict)
        and ("data" in value or key == "dataframe_split")
    ):
        data, columns = value.get("data"), value.get("columns")
        if not isinstance(data, list):
            raise errors.BadRequest(f"{key}.data must be a list of rows")
        if columns is not None and not (
            isinstance(columns, list) and all(isinstance(c, str) for c in columns)
        ):
            raise errors.BadRequest(f"{key}.columns must be a list of column names")
        item = MlflowItem(ROWS, data, protocol=protocol, columns=columns, params=params)
    elif isinstance(value, list) and key != "dataframe_split":
        if key == "dataframe_records" or (value and all(isinstance(r, dict) for r in value)):
            if not all(isinstance(r, dict) for r in value):
                raise errors.BadRequest(f"{key} must be a list of objects (one per row)")
            item = MlflowItem(RECORDS, value, protocol=protocol, params=params)
        else:
            item = MlflowItem(ROWS, value, protocol=protocol, params=params)
    elif isinstance(value, dict) and key in ("input_data", "inputs"):
        item = MlflowItem(COLUMNAR, value, protocol=protocol, params=params)
    else:
        raise errors.BadRequest(f"{key} has an unsupported layout ({type(value).__name__})")
    if item.rows == 0:
        raise errors.BadRequest(f"{key} holds no rows")
    return item


# -- merging (micro-batching) ---------------------------------------------------------------------


def merge_key(item: MlflowItem) -> tuple[Any, ...] | None:
    """Items with equal keys can be scored in one call; ``None`` = never merge this one."""
    if item.params:
        return None
    if item.form == ROWS:
        return (ROWS, tuple(item.columns) if item.columns else None)
    if item.form == RECORDS:
        return (RECORDS,)
    if item.form == COLUMNAR and all(isinstance(v, list) for v in item.data.values()):
        return (COLUMNAR, tuple(sorted(item.data)))
    if item.form == TENSORS:
        return (TENSORS, tuple((name, array.shape[1:], array.dtype) for name, array in item.data.items()))
    return None


def merge(items: Sequence[MlflowItem]) -> MlflowItem:
    """One item holding every row of ``items`` (which share a :func:`merge_key`), in order."""
    first = items[0]
    if len(items) == 1:
        return first
    data: Any
    if first.form in (ROWS, RECORDS):
        data = [row for item in items for row in item.data]
    elif first.form == COLUMNAR:
        data = {name: [v for item in items for v in item.data[name]] for name in first.data}
    else:
        import numpy as np

        data = {name: np.concatenate([item.data[name] for item in items]) for name in first.data}
    return MlflowItem(first.form, data, protocol=first.protocol, columns=first.columns, context=first.context)


# -- conversion (worker thread) ------------------------------------------------------------------


def convert(item: MlflowItem, signature: Any) -> Any:
    """Build the model input for ``item`` under ``signature`` (a :class:`~.mlflow_model.Signature`)."""
    try:
        if signature.kind == "columns":
            return _to_frame(item, signature)
        if signature.kind == "tensor":
            return _to_tensor(item, signature)
        if signature.kind == "tensors":
            return _to_tensors(item, signature)
        return _unsigned(item)
    except errors.HTTPError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise errors.SchemaMismatch(f"input cannot be converted for this model: {exc}") from None


def _to_frame(item: MlflowItem, sig: Any) -> Any:
    import numpy as np
    import pandas as pd

    if item.form == TENSORS:
        frame = pd.DataFrame({name: _column(name, array) for name, array in item.data.items()})
    elif item.form == ROWS:
        columns = item.columns or sig.names
        if any(not isinstance(row, list) or len(row) != len(columns) for row in item.data):
            raise errors.SchemaMismatch(f"every row must have {len(columns)} values, for columns {columns}")
        if sig.uniform is not None and not item.columns:
            frame = pd.DataFrame(_array(item.data, sig.uniform, columns), columns=columns)
        else:
            frame = pd.DataFrame(item.data, columns=columns)
    elif item.form == RECORDS:
        frame = pd.DataFrame.from_records(item.data)
    else:
        frame = pd.DataFrame(
            item.data if any(isinstance(v, list) for v in item.data.values()) else [item.data]
        )
    missing = [name for name in sig.required if name not in frame.columns]
    if missing:
        raise errors.SchemaMismatch(f"missing required column(s) {missing}; the model takes {sig.names}")
    for name, dtype in sig.column_types.items():
        if name in frame.columns and dtype is not None and frame[name].dtype != dtype:
            if dtype.kind in "iu":
                check_int_range(frame[name].to_numpy(), dtype, f"column {name!r}")
            try:
                frame[name] = frame[name].astype(dtype)
            except (ValueError, TypeError, OverflowError):
                raise errors.SchemaMismatch(
                    f"column {name!r} cannot be converted to {np.dtype(dtype).name}"
                ) from None
    return frame


def _array(values: Any, dtype: Any, columns: list[str] | None = None, *, name: str = "") -> Any:
    """``values`` as a numpy array of ``dtype``; integers out of its range are a 400 naming the
    column (or input) instead of numpy's silent wrap-around."""
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        return np.asarray(values, dtype=dtype)
    # JSON rows as an object array first: numpy would turn big integers into floats (losing digits)
    array = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    if array.dtype == dtype:
        return array
    if columns is not None and array.ndim == 2:
        for index, column in enumerate(columns):
            check_int_range(array[:, index], dtype, f"column {column!r}")
    else:
        check_int_range(array, dtype, f"input {name!r}" if name else "input")
    return array.astype(dtype)


def check_int_range(values: Any, dtype: Any, what: str) -> None:
    """``SchemaMismatch`` when a value of ``values`` (any numpy array) does not fit integer ``dtype``.

    Checked: Python ints of object arrays (JSON integers beyond 64 bits), floats (NaN and infinities
    included) and unsigned values above a signed maximum.
    """
    import numpy as np

    info = np.iinfo(dtype)
    kind = values.dtype.kind
    if kind == "O":
        flat = values.ravel().tolist()
        bad = next((v for v in flat if isinstance(v, int | float) and not info.min <= v <= info.max), None)
    elif kind == "f" and values.size and np.isnan(values).any():
        bad = float("nan")
    elif kind in "fiu" and values.size:
        low, high = values.min(), values.max()
        bad = low if low < info.min else high if high > info.max else None
    else:
        bad = None
    if bad is not None:
        bad = bad.item() if isinstance(bad, np.generic) else bad
        raise errors.SchemaMismatch(
            f"{what}: {bad} is not an {np.dtype(dtype).name} value ({info.min} to {info.max})"
        )


def _column(name: str, array: Any) -> Any:
    if array.ndim == 2 and array.shape[1] == 1:
        return array[:, 0]
    if array.ndim != 1:
        raise errors.SchemaMismatch(f"input {name!r} is a column: its shape must be [rows] or [rows, 1]")
    return array


def _to_tensor(item: MlflowItem, sig: Any) -> Any:
    import numpy as np

    if item.form == ROWS and not item.columns:
        array = _array(item.data, sig.dtype)
    elif item.form == TENSORS and len(item.data) == 1:
        array = next(iter(item.data.values()))
        if not np.can_cast(array.dtype, sig.dtype, casting="same_kind"):
            raise errors.SchemaMismatch(
                f"input dtype {array.dtype} does not match the signature's {sig.dtype}"
            )
        array = array.astype(sig.dtype, copy=False)
    elif item.form == COLUMNAR and len(item.data) == 1:
        array = _array(next(iter(item.data.values())), sig.dtype)
    else:
        raise errors.SchemaMismatch(
            'this model takes one tensor: send a list of rows (e.g. {"inputs": [[...]]})'
        )
    _check_shape(array, sig.shape, "input")
    return array


def _to_tensors(item: MlflowItem, sig: Any) -> Any:

    if item.form == RECORDS:
        data = {name: [row.get(name) for row in item.data] for name in sig.names}
    elif item.form in (COLUMNAR, TENSORS):
        data = item.data
    else:
        raise errors.SchemaMismatch(f"this model takes named inputs {sig.names}: send an object of tensors")
    missing = [name for name in sig.required if name not in data]
    if missing:
        raise errors.SchemaMismatch(f"missing input(s) {missing}; the model takes {sig.names}")
    out = {}
    for name, (dtype, shape) in sig.tensors.items():
        if name in data:
            out[name] = _array(data[name], dtype, name=name)
            _check_shape(out[name], shape, f"input {name!r}")
    return out


def _check_shape(array: Any, shape: tuple[int, ...], what: str) -> None:
    if len(array.shape) != len(shape) or any(
        want not in (-1, got) for want, got in zip(shape, array.shape, strict=True)
    ):
        raise errors.SchemaMismatch(
            f"{what} has shape {tuple(array.shape)} but the signature expects {shape}"
        )
    if len(shape) and shape[0] == -1 and array.shape[0] == 0:
        raise errors.SchemaMismatch(f"{what} holds no rows")


def _unsigned(item: MlflowItem) -> Any:
    import numpy as np
    import pandas as pd

    if item.form == ROWS:
        return pd.DataFrame(item.data, columns=item.columns) if item.columns else np.asarray(item.data)
    if item.form == RECORDS:
        return pd.DataFrame.from_records(item.data)
    if item.form == TENSORS:
        return dict(item.data)
    return {name: np.asarray(value) for name, value in item.data.items()}
