"""Scoring scripts on our runtime vs azureml-inference-server-http: same requests, same answers.

One test per kind of script/request from issue 9 (multipart uploads, non-JSON bodies, schema
scripts with extra fields, str results, GET scoring, result types, swagger). Where we differ on
purpose the test says ``DIFFERENCE:`` and asserts both sides, so a change on either side shows.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.differential.conftest import assert_same, media

pytestmark = pytest.mark.timeout(600)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


# -- 1. multipart uploads to @rawhttp scripts ---------------------------------------------------


def test_one_uploaded_file(pair):
    ours, azure = pair("files_raw.py").both("POST", "/score", files={"file": ("cat.png", PNG, "image/png")})
    assert_same(ours, azure)
    assert ours.json()["sha256"] == hashlib.sha256(PNG).hexdigest()


def test_several_uploaded_files(pair):
    files = [("file[]", (f"f{i}.bin", bytes([i]) * (i + 1), "application/octet-stream")) for i in range(3)]
    ours, azure = pair("files_raw.py").both("POST", "/score?kind=many", files=files)
    assert_same(ours, azure)
    assert [f["size"] for f in ours.json()] == [1, 2, 3]


def test_form_fields_values_and_files(pair):
    ours, azure = pair("files_raw.py").both(
        "POST",
        "/score?kind=form&q=1",
        data={"name": "x", "tags": ["a", "b"]},
        files={"file": ("a.txt", b"hello", "text/plain")},
    )
    assert_same(ours, azure)
    assert ours.json()["values"]["q"] == ["1"]


def test_file_save_and_stream(pair):
    ours, azure = pair("files_raw.py").both("POST", "/score?kind=save", files={"file": ("a", PNG)})
    assert_same(ours, azure)


def test_urlencoded_form(pair):
    ours, azure = pair("files_raw.py").both("POST", "/score?kind=form", data={"a": "1", "b": "two"})
    assert_same(ours, azure)


def test_empty_post_to_a_files_script(pair):
    """``request.files["file"]`` on an empty body raises in the script: Azure's status (500)."""
    ours, azure = pair("files_raw.py").both("POST", "/score")
    assert_same(ours, azure)
    assert ours.status_code == 500


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("application/json", b'{"a": [1, 2]}'), ("text/plain", b"{}"), ("application/json", b"{broken")],
)
def test_raw_get_json(pair, content_type, body):
    ours, azure = pair("files_raw.py").both(
        "POST", "/score?kind=json", content=body, headers={"Content-Type": content_type}
    )
    assert_same(ours, azure)


def test_raw_body_and_headers(pair):
    p = pair("files_raw.py")
    assert_same(*p.both("POST", "/score?kind=data", content="d\u00e9j\u00e0 vu".encode()))
    assert_same(*p.both("POST", "/score?kind=headers", content=b"", headers={"X-Test-One": "1"}))


def test_raw_binary_response(pair):
    ours, azure = pair("files_raw.py").both("POST", "/score?kind=png", content=b"abc")
    assert_same(ours, azure)
    assert ours.headers["content-type"] == "image/png"


# -- 2. plain run(raw_data) gets the body text ------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/csv", b"f0,f1\n1,2\n3,4\n"),
        ("text/plain", b"just some text"),
        ("application/json", b"{not json"),
        ("application/json", b'{"data": [[1, 2]]}'),
        (None, b""),
        ("application/octet-stream", "caf\u00e9".encode()),
    ],
)
def test_plain_script_gets_the_body_text(pair, content_type, body):
    headers = {"Content-Type": content_type} if content_type else {}
    ours, azure = pair("plain_echo.py").both("POST", "/score", content=body, headers=headers)
    assert_same(ours, azure)
    assert ours.json()["text"] == body.decode()


def test_plain_script_non_utf8_body(pair):
    ours, azure = pair("plain_echo.py").both(
        "POST", "/score", content=b"\xff\xfe", headers={"Content-Type": "text/plain"}
    )
    assert_same(ours, azure)
    assert ours.status_code == 400


# -- 5. GET scoring ------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["a=1&b=[1,2]&c=x&d=null", "foo=bar1&foo=bar2&x=y", "", "n=1.5e3&t=true"])
def test_get_with_a_query_string(pair, query):
    ours, azure = pair("plain_echo.py").both("GET", f"/score?{query}")
    assert_same(ours, azure)
    assert ours.json()["kind"] == "json"


def test_get_to_a_raw_script(pair):
    assert_same(*pair("files_raw.py").both("GET", "/score?a=1&a=2&b=x"))


def test_get_to_a_schema_script(pair):
    p = pair("schema_std.py")
    assert_same(*p.both("GET", "/score?" + "data=" + json.dumps({"a": [1, 2], "b": "q"}) + "&scale=3"))
    assert_same(*p.both("GET", "/score?scale=3"))  # missing required argument: 400 on both


# -- 3. inference-schema scripts --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"a": [1.0, 2.5], "b": "x"}},
        {"data": {"a": [1.0, 2.5], "b": "x"}, "scale": 2},
        {"data": {"a": [1.0], "b": "x"}, "extra": "ignored", "another": [1, 2]},  # extra top-level fields
    ],
)
def test_schema_script(pair, body):
    ours, azure = pair("schema_std.py").both("POST", "/score", json=body)
    assert_same(ours, azure)
    assert ours.status_code == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{broken"),
        ("application/json", b"[1, 2]"),
        ("application/json", b""),
        ("application/json", b'{"scale": 2}'),
        ("text/csv", b"a,b\n1,2\n"),
    ],
)
def test_schema_script_bad_requests(pair, content_type, body):
    ours, azure = pair("schema_std.py").both(
        "POST", "/score", content=body, headers={"Content-Type": content_type}
    )
    assert_same(ours, azure)
    assert ours.status_code in (400, 415)


def test_numpy_schema(pair):
    ours, azure = pair("schema_numpy.py").both(
        "POST", "/score", json={"data": [[1, 2, 3, 4], [0.5, 0, 0, 0]]}
    )
    assert_same(ours, azure)
    assert ours.json() == [10.0, 0.5]


def test_numpy_schema_unconvertible_input(pair):
    """DIFFERENCE: input inference-schema cannot convert is a 400 here; Azure answers 500."""
    ours, azure = pair("schema_numpy.py").both("POST", "/score", json={"data": [["a", "b", "c", "d"]]})
    assert (ours.status_code, azure.status_code) == (400, 500)
    assert media(ours) == media(azure) == "application/json"


def test_pandas_schema_with_extra_field(pair):
    body = {
        "data": [
            {"f0": 1.5, "name": "a", "when": "2024-01-02"},
            {"f0": 2.0, "name": "b", "when": "2024-02-03"},
        ],
        "unused": True,
    }
    ours, azure = pair("schema_pandas.py").both("POST", "/score", json=body)
    assert_same(ours, azure)
    assert ours.json() == {"rows": 2, "total": 3.5, "names": ["a", "b"]}


def test_schema_without_content_type(pair):
    """DIFFERENCE: a body without Content-Type is taken as JSON here; Azure answers 415."""
    ours, azure = pair("schema_std.py").both("POST", "/score", content=b'{"data": {"a": [1], "b": "x"}}')
    assert (ours.status_code, azure.status_code) == (200, 415)


# -- 4. run() returning str --------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{"x": [1, 2]}, {"plain": True}])
def test_str_result_is_a_json_string(pair, body):
    ours, azure = pair("returns_str.py").both("POST", "/score", json=body)
    assert_same(ours, azure)
    assert isinstance(ours.json(), str)


# -- 6. result types ----------------------------------------------------------------------------------

#: kinds both servers encode, and equally
SAME = ["list", "nested"]
#: DIFFERENCE: Azure's json.dumps cannot encode these (500); we answer what MLflow's encoder does
ENCODED = {
    "ndarray": [[1.0, 2.0], [3.0, 4.5]],
    "np_scalar": {"i": 3, "f": 0.5, "b": True},
    "np_int_keys": {"0": 0.25, "1": 0.5, "2": 0.25},
    "timestamp": {"at": "2024-03-04T05:06:07.123456"},
    "timedelta": {"took": "P0DT0H1M30S", "std": "P1DT0H0M1.5S"},
    "nat": {"at": None, "na": None, "nan": None},
    "frame_dt": [{"id": 1, "when": "2024-01-01T00:00:00", "x": 0.5}, {"id": 2, "when": None, "x": None}],
    "series_dt": ["2024-01-01T10:00:00", "2024-01-02T00:00:00"],
    "datetime": {"d": "2024-01-02", "dt": "2024-01-02T03:04:05", "t": "01:02:00"},
    "decimal": {"price": 12.34, "big": 1.2345678901234568e29},
    "datetime64": ["2024-01-01T00:00:00", None],
}


@pytest.mark.parametrize("kind", SAME)
def test_plain_results(pair, kind):
    assert_same(*pair("results.py").both("POST", "/score", content=kind))


@pytest.mark.parametrize("kind", sorted(ENCODED))
def test_results_azure_cannot_encode(pair, kind):
    """DIFFERENCE: numpy/pandas/datetime/Decimal results are 200 with MLflow's encoding here;
    Azure's server answers 500 ("An unexpected internal error occurred")."""
    ours, azure = pair("results.py").both("POST", "/score", content=kind)
    assert azure.status_code == 500, azure.text
    assert ours.status_code == 200, ours.text
    assert media(ours) == "application/json"
    assert ours.json() == ENCODED[kind]


def test_nan_in_a_list(pair):
    """DIFFERENCE: Azure writes NaN (not JSON); we write null."""
    ours, azure = pair("plain_echo.py").both("POST", "/score", content=b"NaN")
    assert ours.status_code == azure.status_code == 200
    assert ours.json()["parsed"] is None
    assert "NaN" in azure.text


# -- swagger ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["schema_std.py", "schema_numpy.py", "schema_pandas.py"])
@pytest.mark.parametrize("version", [None, "3"])
def test_swagger_schemas(pair, script, version):
    """The request/response schemas inference-schema generates are Azure's, in Swagger 2.0 and
    OpenAPI 3. DIFFERENCE: the rest of the document (paths, error schemas) describes our routes."""
    url = "/swagger.json" + (f"?version={version}" if version else "")
    ours, azure = pair(script).both("GET", url)
    assert ours.status_code == azure.status_code == 200, (ours.text[:200], azure.text[:200])
    ours_doc, azure_doc = ours.json(), azure.json()
    if version is None:
        ours_defs, azure_defs = ours_doc["definitions"], azure_doc["definitions"]
    else:
        ours_defs, azure_defs = ours_doc["components"]["schemas"], azure_doc["components"]["schemas"]
    for name in ("ServiceInput", "ServiceOutput"):
        assert ours_defs[name] == azure_defs[name], name
