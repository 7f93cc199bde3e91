"""How one request or response body becomes a payload record: columns when tabular, else JSON, else binary.

Tabular bodies are stored column-wise (``"columns": {name: [values...]}``, ``"rows": n``) so the
drift monitor can concatenate records into a table without knowing the request format. Recognised
shapes, after unwrapping one envelope key (``input_data``, ``data``, ``dataframe_split``,
``dataframe_records``, ``instances``, ``inputs``, ``predictions``, ``outputs``):

- ``{"columns": [...], "data": [[...]]}`` (pandas/MLflow ``split``): named columns;
- ``[{"a": 1, ...}, ...]`` (records): one column per key;
- ``{"a": [...], "b": [...]}`` (columns of equal length): as is;
- ``[[...], ...]`` (rows of equal length): columns ``"0"``, ``"1"``...;
- ``[1, 2, ...]`` (one value per row, typical of predictions): column ``"0"``.

Any other JSON body is kept as ``"data"``; a body that is not JSON is binary (the caller stores it
by reference or skips it).
"""

from __future__ import annotations

from typing import Any

import orjson

ENVELOPES = (
    "input_data",
    "data",
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
    "predictions",
    "outputs",
)
_SCALARS = (int, float, str, bool, type(None))
_SCALAR_TYPES = frozenset(_SCALARS)


def _scalars(values: Any) -> bool:
    """Whether every value is a JSON scalar (exact types: what orjson.loads returns)."""
    return {type(v) for v in values} <= _SCALAR_TYPES


def record(body: bytes, content_type: bytes | None, collection: str) -> tuple[dict[str, Any], bool]:
    """``(fields, binary)``: the record's payload fields, and whether ``body`` is binary (not JSON)."""
    ctype = (content_type or b"").split(b";", 1)[0].strip().lower()
    if ctype and not (ctype.endswith(b"json") or ctype.startswith(b"text/")):
        return {"content_type": ctype.decode("latin-1"), "bytes": len(body)}, True
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        fields: dict[str, Any] = {"content_type": ctype.decode("latin-1") or None, "bytes": len(body)}
        return fields, True
    table = columns_of(payload)
    if table is None:
        return {"data": payload}, False
    rows = len(next(iter(table.values()))) if table else 0
    return {"rows": rows, "columns": table}, False


def columns_of(payload: Any) -> dict[str, list[Any]] | None:
    """The body as ``{column: values}``, or None when it is not a table of scalars."""
    if isinstance(payload, dict) and len(payload) == 1:
        key = next(iter(payload))
        if key in ENVELOPES:
            inner = _table(payload[key])
            if inner is not None:
                return inner
    return _table(payload)


def _table(value: Any) -> dict[str, list[Any]] | None:
    if isinstance(value, dict):
        return _from_dict(value)
    if not isinstance(value, list) or not value:
        return None
    first = value[0]
    if isinstance(first, dict):
        return _from_records(value)
    if isinstance(first, list):
        width = len(first)
        if width == 0 or {type(row) for row in value} != {list} or {len(row) for row in value} != {width}:
            return None
        if not _scalars(cell for row in value for cell in row):
            return None
        return dict(zip(map(str, range(width)), map(list, zip(*value, strict=True)), strict=True))
    if _scalars(value):
        return {"0": list(value)}
    return None


def _from_dict(value: dict[str, Any]) -> dict[str, list[Any]] | None:
    if isinstance(value.get("columns"), list) and isinstance(value.get("data"), list):
        names, rows = value["columns"], value["data"]
        if all(isinstance(row, list) and len(row) == len(names) for row in rows):
            return {str(n): [row[i] for row in rows] for i, n in enumerate(names)}
        return None
    if not value or not all(isinstance(v, list) for v in value.values()):
        return None
    lengths = {len(v) for v in value.values()}
    if len(lengths) != 1 or not _scalars(c for v in value.values() for c in v):
        return None
    return {str(k): list(v) for k, v in value.items()}


def _from_records(rows: list[Any]) -> dict[str, list[Any]] | None:
    if not all(isinstance(row, dict) for row in rows):
        return None
    names: dict[str, None] = {}
    for row in rows:
        if not _scalars(row.values()):
            return None
        for key in row:
            names.setdefault(str(key), None)
    return {name: [row.get(name) for row in rows] for name in names}
