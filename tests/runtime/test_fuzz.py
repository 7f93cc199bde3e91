"""Fuzz every documented operation with schemathesis (bounded): no 5xx, whatever the input.

The targets are the MLflow models (both signature kinds) and the inference-schema script, each
served over real HTTP by the app under uvicorn. The one deliberate 500 of the runtime, a ``run``
that raises, is not reachable here: these models answer bad input with 4xx. One more server runs
with payload collection on (every request, rotating small files), so fuzzed bodies, odd content
types and error replies also go through the collector; its writer must stop with its server and
must have written every record, readable, with none lost.
"""

from __future__ import annotations

import threading

import fsspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from mlendpoints.api import collector as dc
from mlendpoints.monitoring import payloads
from mlendpoints.runtime.app import create_app
from tests.runtime.conftest import LiveServer, settings_for
from tests.runtime.test_collector import metric_value

pytestmark = [
    pytest.mark.timeout(600),
    # fuzzed extremes (1e308) overflow inside the model's matmul; the server answers regardless
    pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
]

KEY = "fuzz-key"
FUZZ = settings(
    max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)


def serve(tmp_path_factory, **fields):
    keys = tmp_path_factory.mktemp("keys")
    (keys / "primaryKey").write_text(KEY)
    return LiveServer(create_app(settings_for(auth_key_dir=str(keys), request_timeout_ms=10_000, **fields)))


@pytest.fixture(scope="module")
def tensor_server(mlflow_tensor_dir, tmp_path_factory):
    with serve(tmp_path_factory, model_dir=str(mlflow_tensor_dir)) as server:
        yield server


@pytest.fixture(scope="module")
def cols_server(mlflow_cols_dir, tmp_path_factory):
    with serve(tmp_path_factory, model_dir=str(mlflow_cols_dir), max_batch_size=16) as server:
        yield server


@pytest.fixture(scope="module")
def plain_server(joblib_dir, tmp_path_factory):
    with serve(tmp_path_factory, model_dir=str(joblib_dir), entry_script="score.py") as server:
        yield server


@pytest.fixture(scope="module")
def schema_server(joblib_dir, tmp_path_factory):
    with serve(tmp_path_factory, model_dir=str(joblib_dir), entry_script="score_schema.py") as server:
        yield server


def fuzz(server, allowed_5xx=()):
    """Every operation of the server's OpenAPI 3 document, positive and negative cases.

    Any 5xx fails the test unless its error code is in ``allowed_5xx``.
    """
    schema = schemathesis.openapi.from_url(
        f"{server.url}/swagger.json?version=3", headers={"Authorization": f"Bearer {KEY}"}
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/score", "/v2/models/{model_name}/infer"}
    seen: dict[int, int] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(mode))
            @FUZZ
            def run(case):
                response = case.call(
                    base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
                )
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    try:
                        code = response.json().get("code")
                    except ValueError:
                        code = None
                    assert code in allowed_5xx, (case.method, case.path, case.body, response.text[:500])

            try:
                run()
            except Unsatisfiable:
                # no invalid input exists (e.g. GET / takes no parameters): nothing to fuzz negatively
                assert mode is GenerationMode.NEGATIVE, operation.path
    return seen


def test_fuzz_mlflow_tensor_model(tensor_server):
    seen = fuzz(tensor_server)
    assert seen.get(200, 0) > 0
    assert seen.get(400, 0) > 0


def test_fuzz_mlflow_column_model(cols_server):
    seen = fuzz(cols_server)
    assert seen.get(200, 0) > 0
    assert seen.get(400, 0) > 0


def test_fuzz_inference_schema_script(schema_server):
    seen = fuzz(schema_server)
    assert seen.get(200, 0) > 0
    assert seen.get(400, 0) > 0


def test_fuzz_plain_script_only_fails_where_run_raises(plain_server, caplog):
    # score.py does json.loads(raw)["data"] with no checks: random objects make run() raise, which
    # is the one deliberate 500 (ScoringError). Everything the server itself decides is a 4xx.
    seen = fuzz(plain_server, allowed_5xx=("ScoringError",))
    assert seen.get(200, 0) > 0
    assert seen.get(500, 0) > 0
    # the request path's logger only: a payload collector left running by another test logs its own
    # storage errors on "mlendpoints.runtime.collector", which says nothing about this server
    failures = [
        r for r in caplog.records if r.name == "mlendpoints.runtime" and r.levelname == "ERROR" and r.exc_info
    ]
    assert failures
    for record in failures:  # every logged 500 is an exception raised inside the script's run()
        files = []
        tb = record.exc_info[2]
        while tb is not None:
            files.append(tb.tb_frame.f_code.co_filename)
            tb = tb.tb_next
        assert any(f.endswith("scripts/score.py") for f in files), files


def test_fuzz_with_payload_collection_loses_nothing_and_stops_its_writer(mlflow_tensor_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("payloads")
    collect = {
        "collector_enabled": True,
        "collector_destination": f"file://{out}",
        "collector_max_file_bytes": 4096,  # many files: rotation runs while the fuzzer sends
        "endpoint_name": "ep",
        "deployment_name": "fuzz",
    }
    with serve(tmp_path_factory, model_dir=str(mlflow_tensor_dir), **collect) as server:
        seen = fuzz(server)
    # the server's lifespan shutdown has closed the collector: its writer is gone, files are whole
    assert not server.app.collector.running()
    assert [t.name for t in threading.enumerate() if t.name == "payload-collector"] == []
    assert seen.get(200, 0) > 0
    assert seen.get(400, 0) > 0
    text = server.app.metrics.render().decode()
    for reason in ("queue_full", "write_error"):
        assert metric_value(text, f'mlendpoints_collector_dropped_total{{reason="{reason}"}}') == 0, reason
    for collection in dc.COLLECTIONS:
        fs, root = fsspec.core.url_to_fs(str(out / "ep" / "fuzz" / collection))
        found = payloads.read_records(fs, root, payloads.Window())
        counted = metric_value(text, f'mlendpoints_collector_records_total{{collection="{collection}"}}')
        assert len(found) == counted > 0, collection
        assert {r["schema"] for r in found} == {dc.SCHEMA_VERSION}
        assert {r["collection"] for r in found} == {collection}
        assert any(r["status"] >= 400 for r in found)  # error replies are collected too
    assert len(list((out / "ep" / "fuzz").glob("*/*/*/*/*/*.jsonl"))) > 2
