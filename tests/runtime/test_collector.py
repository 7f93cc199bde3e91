"""Payload collection: sampling, rotation, drops under back-pressure, pandas-readable files, shutdown flush.

Every server here scores the joblib scoring script (``scripts/score.py``) and writes to a temporary
folder (``file://``) unless the test says otherwise; records are read back with the same reader the
drift monitor uses (:mod:`mlendpoints.monitoring.payloads`) and with plain pandas.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from scipy.stats import binomtest

from mlendpoints.api import collector as dc
from mlendpoints.monitoring import payloads
from mlendpoints.runtime.app import create_app
from mlendpoints.runtime.collector import Collector, Item
from mlendpoints.runtime.metrics import Registry

from .conftest import LiveServer, client_for, settings_for

ROWS = [[0.1, 0.2, 0.3, 0.4], [1.0, -1.0, 0.5, 2.5]]


def collecting(dest: Path | str, **fields: Any) -> dict[str, Any]:
    uri = dest if isinstance(dest, str) else f"file://{dest}"
    return {
        "entry_script": "score.py",
        "collector_enabled": True,
        "collector_destination": uri,
        "endpoint_name": "ep",
        "deployment_name": "blue",
        **fields,
    }


def jsonl_files(root: Path, collection: str) -> list[Path]:
    return sorted((root / "ep" / "blue" / collection).glob("*/*/*/*/*.jsonl"))


def records(root: Path, collection: str) -> list[dict[str, Any]]:
    fs, path = fsspec.core.url_to_fs(str(root / "ep" / "blue" / collection))
    return payloads.read_records(fs, path, payloads.Window())


def metric_value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[1])
    return 0.0


@pytest.fixture
def joblib_env(joblib_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(joblib_dir))
    return joblib_dir


def test_records_are_columnwise_and_pandas_readable(joblib_env: Path, tmp_path: Path) -> None:
    ids = []
    with client_for(settings_for(**collecting(tmp_path))) as client:
        for _ in range(3):
            response = client.post("/score", json={"data": ROWS})
            assert response.status_code == 200
            ids.append(response.headers["x-request-id"])
        assert client.post("/score", json={"data": "not rows"}).status_code >= 400
    # leaving the block is a graceful stop: everything buffered is written

    files = jsonl_files(tmp_path, dc.MODEL_INPUTS)
    assert files, "no input files written"
    frame = pd.concat([pd.read_json(f, lines=True) for f in files], ignore_index=True)
    assert {"id", "time", "endpoint", "deployment", "status", "latency_ms", "route"} <= set(frame.columns)
    ok = frame[frame["status"] == 200]
    assert sorted(ok["id"]) == sorted(ids)
    assert set(frame["deployment"]) == {"blue"}
    table = payloads.table_of_records(records(tmp_path, dc.MODEL_INPUTS))
    assert list(table.columns) == ["0", "1", "2", "3"]
    assert table.shape == (6, 4)
    assert table.iloc[1].tolist() == ROWS[1]
    outputs = payloads.table_of_records(records(tmp_path, dc.MODEL_OUTPUTS))
    assert outputs.shape == (6, 1)  # one prediction per row, column "0"
    partition = files[0].parent.relative_to(tmp_path / "ep" / "blue" / dc.MODEL_INPUTS)
    assert len(partition.parts) == 4  # YYYY/MM/DD/HH


def test_sampling_rate_within_binomial_bound(joblib_env: Path, tmp_path: Path) -> None:
    n, rate = 400, 0.3
    fields = collecting(tmp_path, collector_sampling_rate=rate, collector_collections="model_inputs")
    with client_for(settings_for(**fields)) as client:
        for _ in range(n):
            assert client.post("/score", json={"data": ROWS[:1]}).status_code == 200
    k = len(records(tmp_path, dc.MODEL_INPUTS))
    assert binomtest(k, n, rate).pvalue > 1e-4, f"{k} of {n} collected at rate {rate}"
    assert not (tmp_path / "ep" / "blue" / dc.MODEL_OUTPUTS).exists()


def item(at: float, request_id: str, body: bytes = b'{"data": [[1, 2, 3, 4]]}') -> Item:
    return Item(at, request_id, "/score", 200, 0.001, body, b"application/json", b"[1]", b"application/json")


def test_files_rotate_by_size_and_by_time(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    settings = settings_for(**collecting(tmp_path, collector_max_file_bytes=2000))
    collector = Collector(settings, Registry(), clock=lambda: now[0])
    collector.start()
    for i in range(30):
        collector.offer(item(now[0], f"r{i}"))
    deadline = time.monotonic() + 10
    while len(jsonl_files(tmp_path, dc.MODEL_INPUTS)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # the writer has drained all 30 by now
    by_size = jsonl_files(tmp_path, dc.MODEL_INPUTS)
    written = 0
    for f in by_size:  # each file closed at the first record that took it to 2000 bytes
        lines = f.read_bytes().splitlines(keepends=True)
        size = sum(map(len, lines))
        assert size >= 2000 > size - len(lines[-1])
        written += len(lines)
    assert 0 <= 30 - written < len(lines)  # the rest waits in the open file
    if written == 30:
        collector.offer(item(now[0], "r30"))  # something for the time-based roll to write
        time.sleep(0.3)

    before = len(by_size)
    now[0] += 61  # the minute rolling interval passes: the open file is written without shutdown
    deadline = time.monotonic() + 10
    while len(jsonl_files(tmp_path, dc.MODEL_INPUTS)) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(jsonl_files(tmp_path, dc.MODEL_INPUTS)) == before + 1

    collector.offer(item(now[0], "late"))
    collector.offer(item(now[0] + 3600, "next"))  # an hour later: the next hour's folder
    collector.close()
    folders = {f.parent for f in jsonl_files(tmp_path, dc.MODEL_INPUTS)}
    assert len(folders) == 2
    assert sorted(r["id"] for r in records(tmp_path, dc.MODEL_INPUTS)) == sorted(
        [f"r{i}" for i in range(31 if written == 30 else 30)] + ["late", "next"]
    )


class BlockingFS(MemoryFileSystem):
    """An in-memory destination whose writes wait until the test releases them."""

    protocol = "blockingmem"
    release = threading.Event()
    store: dict[str, Any] = {}
    pseudo_dirs: list[str] = [""]

    def pipe_file(self, path: str, value: bytes, *args: Any, **kwargs: Any) -> None:
        assert self.release.wait(30)
        super().pipe_file(path, value, *args, **kwargs)


def test_full_queue_drops_and_counts_without_failing_requests(joblib_env: Path) -> None:
    fsspec.register_implementation("blockingmem", BlockingFS, clobber=True)
    BlockingFS.release.clear()
    BlockingFS.store.clear()
    fields = collecting(
        "blockingmem://payloads",
        collector_queue_size=5,
        collector_max_file_bytes=1,  # every record is a file: the writer blocks on the first
        collector_collections="model_inputs",
    )
    sent = 60
    with client_for(settings_for(**fields)) as client:
        try:
            for _ in range(sent):
                assert client.post("/score", json={"data": ROWS}).status_code == 200
            text = client.get("/metrics").text
            dropped = metric_value(text, 'mlendpoints_collector_dropped_total{reason="queue_full"}')
            assert dropped >= sent - 5 - 2  # at most the queue plus what the writer took before blocking
            assert metric_value(text, "mlendpoints_collector_queue_depth") == 5
        finally:
            BlockingFS.release.set()
    written = [p for p in BlockingFS.store if p.endswith(".jsonl")]
    assert len(written) == sent - dropped


def test_graceful_shutdown_writes_every_accepted_record(joblib_env: Path, tmp_path: Path) -> None:
    ids = []
    with LiveServer(
        create_app(settings_for(**collecting(tmp_path, collector_rolling_rate="hour")))
    ) as server:
        with server.client() as http:
            for _ in range(50):
                response = http.post("/score", json={"data": ROWS})
                assert response.status_code == 200
                ids.append(response.headers["x-request-id"])
        assert jsonl_files(tmp_path, dc.MODEL_INPUTS) == []  # still buffered: the hour has not passed
    # leaving the block is what SIGTERM does: uvicorn drains, then the lifespan shutdown runs
    for collection in dc.COLLECTIONS:
        assert sorted(r["id"] for r in records(tmp_path, collection)) == sorted(ids)


def test_binary_bodies_by_reference_or_skipped(tmp_path: Path) -> None:
    for mode in ("reference", "skip"):
        root = tmp_path / mode
        collector = Collector(settings_for(**collecting(root, collector_binary=mode)), Registry())
        collector.start()
        collector.offer(
            Item(
                time.time(),
                "img-1",
                "/score",
                200,
                0.002,
                b"\x89PNG...",
                b"image/png",
                b"{}",
                b"application/json",
            )
        )
        collector.close()
        (rec,) = records(root, dc.MODEL_INPUTS)
        assert rec["bytes"] == 7
        if mode == "reference":
            assert (root / rec["payload_ref"]).read_bytes() == b"\x89PNG..."
        else:
            assert rec["skipped"] == "binary"
            assert "payload_ref" not in rec


def test_bad_collector_settings_name_the_variable() -> None:
    from mlendpoints.runtime import config

    with pytest.raises(ValueError, match=dc.ENV_SAMPLING_RATE):
        config.from_env({dc.ENV_SAMPLING_RATE: "1.5"})
    with pytest.raises(ValueError, match=dc.ENV_COLLECTIONS):
        config.from_env({dc.ENV_COLLECTIONS: "model_inputs,requests"})


def test_azurite_blob_destination(joblib_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.storage.blob import BlobServiceClient

    from tests.azurite import azurite_blob

    with azurite_blob(tmp_path) as connection:
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection)  # what the pod's Secret provides
        BlobServiceClient.from_connection_string(connection).create_container("payloads")
        ids = []
        with client_for(settings_for(**collecting("az://payloads/online"))) as client:
            for _ in range(3):
                response = client.post("/score", json={"data": ROWS})
                assert response.status_code == 200
                ids.append(response.headers["x-request-id"])
        target = "az://payloads/online/ep/blue/model_inputs"
        table = payloads.read_table(target)  # credentials from AZURE_STORAGE_CONNECTION_STRING
        assert table.values.tolist() == ROWS * 3
        fs, root = fsspec.core.url_to_fs(target)
        assert sorted(r["id"] for r in payloads.read_records(fs, root, payloads.Window())) == sorted(ids)


def test_requests_refused_with_401_are_not_collected(joblib_env: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "primaryKey").write_text("key-one")
    with client_for(settings_for(**collecting(tmp_path / "out", auth_key_dir=str(keys)))) as client:
        assert client.post("/score", json={"data": ROWS}).status_code == 401
        ok = client.post("/score", json={"data": ROWS}, headers={"Authorization": "Bearer key-one"})
        assert ok.status_code == 200
    assert [r["id"] for r in records(tmp_path / "out", dc.MODEL_INPUTS)] == [ok.headers["x-request-id"]]


def test_queue_is_bounded_in_bytes_too(tmp_path: Path) -> None:
    from mlendpoints.runtime import collector as collector_module

    registry = Registry()
    collector = Collector(
        settings_for(**collecting(tmp_path)), registry
    )  # writer not started: nothing drains
    big = b"x" * (collector_module.QUEUE_BYTES // 2 + 1)
    collector.offer(item(time.time(), "a", big))
    collector.offer(item(time.time(), "b", big))  # would exceed the byte bound
    collector.offer(item(time.time(), "c"))  # small: still fits
    assert [i.request_id for i in collector.queue] == ["a", "c"]
    assert (
        metric_value(registry.render().decode(), 'mlendpoints_collector_dropped_total{reason="queue_full"}')
        == 1
    )


# SIGTERM to a real `mlendpoints serve` under load (a rolling update's old pod): test_collector_shutdown.py


class _StuckSink:
    """A destination whose write blocks until released (a hung upload)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def write(self, relpath: str, data: bytes) -> None:
        self.release.wait(10)


def test_a_close_that_times_out_logs_where_the_writer_is_blocked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = _StuckSink()
    collector = Collector(settings_for(**collecting(tmp_path)), Registry(), sink=sink)
    collector.start()
    collector.offer(Item(time.time(), "r-1", "/score", 200, 0.001, b"[1]", b"application/json", b"[2]",
                         b"application/json"))  # fmt: skip
    with caplog.at_level("ERROR", logger="mlendpoints.runtime.collector"):
        collector.close(timeout_s=0.5)
    sink.release.set()
    collector.close(timeout_s=5)  # released: the writer ends
    assert not collector.running()
    (message,) = [r.getMessage() for r in caplog.records if "did not finish writing" in r.getMessage()]
    assert "within 0.5 s (0 records queued, 1 buffered)" in message
    assert "in write" in message, message
    assert "release.wait" in message, message
