"""The result encoder: every common numpy / pandas / datetime / Decimal value, as MLflow encodes it."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import numpy as np
import orjson
import pandas as pd
import pytest

from mlendpoints.runtime.encoding import dumps


def loads(value):
    return orjson.loads(dumps(value))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.int8(-3), -3),
        (np.int64(2**62), 2**62),
        (np.uint64(2**64 - 1), 2**64 - 1),
        (np.float16(0.5), 0.5),
        (np.float32(1.25), 1.25),
        (np.float64(-0.1), -0.1),
        (np.bool_(False), False),
        (np.str_("text"), "text"),
        (np.array([[1, 2], [3, 4]], dtype=np.int32), [[1, 2], [3, 4]]),
        (np.array([1.5, np.nan]), [1.5, None]),
        (np.array(["a", "b"], dtype=object), ["a", "b"]),
        (np.array([1, "x", None], dtype=object), [1, "x", None]),
        (np.array(["2024-01-01", "NaT"], dtype="datetime64[D]"), ["2024-01-01", None]),
        (np.datetime64("2024-01-02T03:04:05"), "2024-01-02T03:04:05"),
        (np.datetime64("NaT"), None),
        (np.timedelta64(90, "s"), "P0DT0H1M30S"),
        (np.array([np.timedelta64(1, "D"), np.timedelta64("NaT")]), ["P1DT0H0M0S", None]),
        (pd.Timestamp("2024-03-04T05:06:07.123456"), "2024-03-04T05:06:07.123456"),
        (pd.Timestamp("2024-03-04", tz="UTC"), "2024-03-04T00:00:00+00:00"),
        (pd.Timedelta(milliseconds=1500), "P0DT0H0M1.5S"),
        (pd.NaT, None),
        (pd.NA, None),
        (pd.Series([1, 2]), [1, 2]),
        (pd.Series(pd.to_datetime(["2024-01-01", None])), ["2024-01-01T00:00:00", None]),
        (pd.Index(["a", "b"]), ["a", "b"]),
        (pd.Period("2024-01", freq="M"), "2024-01"),
        (pd.array([1, None], dtype="Int64"), [1, None]),
        (pd.Categorical(["a", "b", "a"]), ["a", "b", "a"]),
        (datetime.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (datetime.date(2024, 1, 2), "2024-01-02"),
        (datetime.time(1, 2, 3), "01:02:03"),
        (datetime.timedelta(days=-1, seconds=1), "-P0DT23H59M59S"),
        (decimal.Decimal("12.3400"), 12.34),
        (decimal.Decimal("NaN"), None),
        (b"\x00\x01", "AAE="),
        ({1, 2} - {2}, [1]),
        ((1, "a"), [1, "a"]),
        (float("inf"), None),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ],
    ids=repr,
)
def test_values(value, expected):
    assert loads(value) == expected


def test_dataframe_is_records_with_iso_dates_and_nulls():
    frame = pd.DataFrame(
        {
            "id": np.array([1, 2], dtype=np.int64),
            "when": pd.to_datetime(["2024-01-01T10:00:00", None]),
            "took": pd.to_timedelta([60, None], unit="s"),
            "x": [0.5, np.nan],
            "label": pd.Categorical(["a", "b"]),
        }
    )
    assert loads(frame) == [
        {"id": 1, "when": "2024-01-01T10:00:00", "took": "P0DT0H1M0S", "x": 0.5, "label": "a"},
        {"id": 2, "when": None, "took": None, "x": None, "label": "b"},
    ]


def test_non_string_keys_become_strings():
    classes, proba = np.array([0, 1, 2]), np.array([0.2, 0.3, 0.5])
    assert loads(dict(zip(classes, proba, strict=True))) == {"0": 0.2, "1": 0.3, "2": 0.5}
    assert loads({np.str_("a"): 1, 2: 2, 1.5: 3, True: 4, None: 5}) == {
        "a": 1,
        "2": 2,
        "1.5": 3,
        "true": 4,
        "null": 5,
    }
    assert loads({pd.Timestamp("2024-01-01"): 1, datetime.date(2024, 1, 2): 2}) == {
        "2024-01-01T00:00:00": 1,
        "2024-01-02": 2,
    }
    assert loads({"nested": {np.int64(7): [np.float32(0.5)]}}) == {"nested": {"7": [0.5]}}


def test_integers_beyond_64_bits_keep_their_digits():
    assert dumps({"n": 2**70}) == b'{"n":1180591620717411303424}'


def test_decimal_keeps_its_digits():
    assert (
        dumps(decimal.Decimal("0.1000000000000000055511151231257827"))
        == b"0.1000000000000000055511151231257827"
    )


@pytest.mark.parametrize("value", [object(), np.complex128(1 + 2j)])
def test_values_with_no_json_form_raise_type_error(value):
    with pytest.raises(TypeError):
        dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        np.array([[1.0, 2.0]]),
        {"i": np.int64(3), "f": np.float64(0.25)},
        pd.Timestamp("2024-01-02T03:04:05"),
        datetime.date(2024, 1, 2),
        pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
        [np.bool_(True), np.float32(0.5)],
        np.array(["2024-01-01", "2024-02-03"], dtype="datetime64[D]"),
    ],
    ids=repr,
)
def test_agrees_with_mlflows_encoder(value):
    """Where MLflow's scoring server can encode a value, ours gives the same JSON value (a
    ``Series`` is the exception: MLflow writes it as records of a one-column frame, we as a list)."""
    from mlflow.pyfunc.scoring_server import _get_jsonable_obj
    from mlflow.utils.proto_json_utils import NumpyEncoder

    expected = json.loads(json.dumps(_get_jsonable_obj(value, pandas_orient="records"), cls=NumpyEncoder))
    assert loads(value) == expected
