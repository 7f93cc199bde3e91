"""run() returning numpy / pandas / datetime / Decimal values (the body names which)."""

import datetime
import decimal

import numpy as np
import pandas as pd


def init():
    pass


def _value(kind):
    if kind == "list":
        return [1, 2.5, "x", None, True]
    if kind == "nested":
        return {"a": {"b": [1, {"c": None}]}, "n": -3}
    if kind == "ndarray":
        return np.array([[1.0, 2.0], [3.0, 4.5]])
    if kind == "np_scalar":
        return {"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True)}
    if kind == "np_int_keys":  # dict(zip(clf.classes_, proba))
        return dict(zip(np.array([0, 1, 2]), np.array([0.25, 0.5, 0.25]), strict=True))
    if kind == "timestamp":
        return {"at": pd.Timestamp("2024-03-04T05:06:07.123456")}
    if kind == "timedelta":
        return {"took": pd.Timedelta(seconds=90), "std": datetime.timedelta(days=1, seconds=1.5)}
    if kind == "nat":
        return {"at": pd.NaT, "na": pd.NA, "nan": float("nan")}
    if kind == "frame_dt":
        return pd.DataFrame({"id": [1, 2], "when": pd.to_datetime(["2024-01-01", None]), "x": [0.5, None]})
    if kind == "series_dt":
        return pd.Series(pd.to_datetime(["2024-01-01T10:00:00", "2024-01-02T00:00:00"]))
    if kind == "datetime":
        return {
            "d": datetime.date(2024, 1, 2),
            "dt": datetime.datetime(2024, 1, 2, 3, 4, 5),
            "t": datetime.time(1, 2),
        }
    if kind == "decimal":
        return {
            "price": decimal.Decimal("12.3400"),
            "big": decimal.Decimal("123456789012345678901234567890.5"),
        }
    if kind == "datetime64":
        return np.array(["2024-01-01T00:00:00", "NaT"], dtype="datetime64[s]")
    raise ValueError(kind)


def run(raw_data):
    return _value(raw_data.strip().strip('"'))
