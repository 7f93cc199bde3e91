"""JSON for whatever a scoring script or an MLflow model returns, encoded the way MLflow's server does.

:func:`dumps` is the one encoder of ``/score``, ``/invocations`` results. The fast path is a single
``orjson.dumps`` call (``datetime`` values, ``dict`` / ``list`` / ``str`` natively; numeric numpy
arrays through one nested native call); everything orjson does not know goes through :func:`_default`, and a structure orjson
refuses as a whole (a ``dict`` keyed by numpy integers) is rebuilt once by :func:`plain` and dumped
again, so no common value makes a reply fail.

The rules (MLflow's ``NumpyEncoder`` / ``_get_jsonable_obj``, which is what clients of
``mlflow models serve`` and of Azure's no-code MLflow deployments parse):

================================================ ===========================================
value                                            JSON
================================================ ===========================================
``pandas.DataFrame``                             list of records (``orient="records"``)
``pandas.Series`` / ``Index``, ``numpy.ndarray`` list
numpy scalars (``int64``, ``float32``, ``bool_``) number / ``true`` / ``false``
``datetime`` / ``date`` / ``time``,              ISO-8601 string
``pandas.Timestamp``, ``numpy.datetime64``
``timedelta``, ``pandas.Timedelta``,             ISO-8601 duration (``P0DT0H1M30S``)
``numpy.timedelta64``
``NaT``, ``pandas.NA``, ``NaN``, ``inf``         ``null``
``decimal.Decimal``                              the exact number (``NaN`` / ``inf``: ``null``)
``bytes``                                        base64 text (as MLflow)
``set`` / ``frozenset`` / ``tuple``              list
dict keys that are not strings                   strings (``str(key)``; numbers as their value)
================================================ ===========================================

Differences from MLflow, on purpose: ``NaT`` / ``NaN`` are ``null`` (MLflow writes ``"NaT"`` and
``NaN``, which is not JSON); timedeltas and ``Decimal`` are encoded (MLflow raises); a ``Series``
is a list (MLflow: records of a one-column frame, ``[{"0": v}, ...]``).
"""

from __future__ import annotations

import base64
import datetime
import decimal
import math
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS
#: numeric numpy arrays are written by orjson natively (fast); datetime64/timedelta64 arrays are not
#: given to it, as it writes ``NaT`` of day units as 1970-01-01 and raises for other units
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def dumps(value: Any) -> bytes:
    """JSON bytes for ``value`` (``TypeError`` only for a type with no JSON meaning, e.g. an object)."""
    if type(value).__name__ == "ndarray" and value.dtype.kind in "biuf":
        try:  # the common MLflow / script result: one native call, no fallback round trip
            return orjson.dumps(value, option=_NUMPY)
        except TypeError:
            pass
    try:
        return orjson.dumps(value, option=_OPTIONS, default=_default)
    except TypeError:
        # orjson refuses some structures as a whole (numpy-integer dict keys, NaT inside a
        # datetime64 array, integers beyond 64 bits); rebuild them from plain values once.
        return orjson.dumps(plain(value), option=_OPTIONS, default=_default)


def _default(value: Any) -> Any:
    """orjson's fallback: a JSON-ready replacement for one value orjson does not know."""
    module = type(value).__module__
    if module == "numpy":
        return _numpy(value)
    if module.startswith("pandas"):
        return _pandas(value)
    if isinstance(value, datetime.timedelta):
        return _duration(value)
    if isinstance(value, decimal.Decimal):
        return orjson.Fragment(str(value)) if value.is_finite() else None
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "tolist"):  # array-likes of other libraries (torch/tf tensors on CPU)
        return value.tolist()
    if isinstance(value, datetime.date | datetime.time):  # subclasses orjson does not take
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _pandas(value: Any) -> Any:
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return value.to_dict(orient="records")
    if isinstance(value, pd.Series | pd.Index | pd.api.extensions.ExtensionArray):
        return value.tolist()
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, pd.Timedelta):
        return value.isoformat()
    if isinstance(value, pd.Period | pd.Interval):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _numpy(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        if np.datetime_data(value.dtype)[0] in ("Y", "M", "W", "D"):
            return np.datetime_as_string(value, unit="D")
        import pandas as pd

        return pd.Timestamp(value).isoformat()
    if isinstance(value, np.timedelta64):
        if np.isnat(value):
            return None
        import pandas as pd

        return pd.Timedelta(value).isoformat()
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _numpy(value[()])
        if value.dtype.kind in "mM":  # datetime64 / timedelta64: element by element (NaT -> null)
            return [_numpy(v) for v in value]
        if value.dtype.kind in "biuf":
            try:
                return orjson.Fragment(orjson.dumps(value, option=_NUMPY))
            except TypeError:  # not C-contiguous, or a dtype orjson does not take (float128)
                pass
        return value.tolist()  # object / string arrays: their items go through this encoder
    if isinstance(value, np.complexfloating):
        raise TypeError("complex numbers have no JSON form")
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _duration(value: datetime.timedelta) -> str:
    """ISO-8601 duration in pandas' spelling (``P1DT2H3M4.5S``) for a stdlib timedelta."""
    total = value.total_seconds()
    sign = "-" if total < 0 else ""
    micros = abs(value.days * 86_400_000_000 + value.seconds * 1_000_000 + value.microseconds)
    days, rest = divmod(micros, 86_400_000_000)
    hours, rest = divmod(rest, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, micro = divmod(rest, 1_000_000)
    frac = f".{micro:06d}".rstrip("0") if micro else ""
    return f"{sign}P{days}DT{hours}H{minutes}M{seconds}{frac}S"


def plain(value: Any) -> Any:
    """``value`` rebuilt from JSON-ready Python values (the slow path of :func:`dumps`)."""
    if isinstance(value, dict):
        return {_key(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, str | bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else orjson.Fragment(str(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        converted = _default(value)
    except TypeError:
        return value  # let orjson say what it cannot encode
    if isinstance(converted, orjson.Fragment):
        return converted
    return plain(converted)


def _key(key: Any) -> str:
    """A dict key as a string: numbers and numpy scalars by value, dates in ISO-8601, else ``str``."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return orjson.dumps(key).decode()
    if isinstance(key, int | float):
        return str(key)
    converted = plain(key)
    if isinstance(converted, str):
        return converted
    if isinstance(converted, bool | int | float) or converted is None:
        return orjson.dumps(converted).decode()
    return str(key)
