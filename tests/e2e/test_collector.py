"""Payload collection for real: a deployment with ``dataCollector`` pointing at Azurite, scored
through the gateway, writes JSON Lines records that name the requests sent.

The pod runs on a process node; requests go through Traefik with our own ``x-request-id``; the
collected files are read back from Azurite with adlfs and pandas (docs/monitoring.md's layout and
record schema). A request refused with 401 is not collected.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.e2e import helpers
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.timeout(420)


def _read(fs: Any, folder: str) -> Any:
    """Every ``*.jsonl`` file under ``folder`` as one pandas DataFrame (empty when there are none)."""
    import pandas as pd

    paths = sorted(p for p in fs.find(folder) if p.endswith(".jsonl")) if fs.exists(folder) else []
    frames = [pd.read_json(io.BytesIO(fs.cat_file(p)), lines=True, dtype=False) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def test_scored_requests_are_collected_to_azurite_with_their_request_ids(
    cluster: Any, ns: str, addons: dict[str, Any], scoring: dict[str, Any]
) -> None:
    import adlfs

    conn = addons["azurite"]["connection_string"]
    dest = f"az://{helpers.CONTAINER}/payloads/{ns}"
    dep = helpers.deployment("blue", "collect", scoring["models"]["blue"])
    dep["spec"]["dataCollector"] = {
        "enabled": True,
        "samplingRate": 1.0,
        "destination": dest,
        "collections": {"modelInputs": {"enabled": True}, "modelOutputs": {"enabled": True}},
        "rollingRate": "minute",
    }
    cluster.apply([helpers.endpoint("collect", {"blue": 100}), dep], "-n", ns)
    helpers.ready(cluster, ns, "collect", "blue")
    url, row = helpers.score_url(scoring["gateway_url"], ns, "collect"), scoring["row"]
    key = helpers.keys(cluster, ns, "collect")["primaryKey"]
    wait_for(
        lambda: helpers.post(url, row, key).status_code == 200, timeout=60, what="the route to be served"
    )

    sent = [f"e2e-{ns}-{i}" for i in range(6)]
    for rid in sent:
        r = helpers.post(url, row, key, **{"x-request-id": rid})
        assert r.status_code == 200, r.text
        assert r.headers["x-request-id"] == rid
        assert round(float(r.json()[0]), 6) == scoring["expected"]["blue"]
    generated = helpers.post(url, row, key)  # no id sent: the runtime's own id is collected
    assert generated.status_code == 200
    sent.append(generated.headers["x-request-id"])
    refused = helpers.post(url, row, "not-the-key", **{"x-request-id": f"e2e-{ns}-refused"})
    assert refused.status_code == 401

    fs = adlfs.AzureBlobFileSystem(connection_string=conn)
    base = f"{helpers.CONTAINER}/payloads/{ns}/collect/blue"

    def collected() -> tuple[Any, Any] | None:
        inputs, outputs = _read(fs, f"{base}/model_inputs"), _read(fs, f"{base}/model_outputs")
        have = [set(f["id"]) if len(f) else set() for f in (inputs, outputs)]
        return (inputs, outputs) if all(set(sent) <= h for h in have) else None

    # Files are written whole when the rolling interval (a minute) has passed.
    inputs, outputs = wait_for(
        collected, timeout=180, interval=3, what=f"records of {sent} under az://{base}"
    )
    # The partitioned layout: <collection>/YYYY/MM/DD/HH/<pod>-<ms>-<seq>.jsonl
    path = next(p for p in fs.find(f"{base}/model_inputs") if p.endswith(".jsonl"))
    parts = path[len(base) + 1 :].split("/")
    assert len(parts) == 6, path
    assert [len(p) for p in parts[1:5]] == [4, 2, 2, 2], path

    assert f"e2e-{ns}-refused" not in set(inputs["id"]) | set(outputs["id"])
    mine_in = inputs[inputs["id"].isin(sent)]
    mine_out = outputs[outputs["id"].isin(sent)]
    assert sorted(mine_in["id"]) == sorted(sent)
    assert sorted(mine_out["id"]) == sorted(sent)
    for rec in mine_in.to_dict("records"):
        assert (rec["schema"], rec["collection"]) == (1, "model_inputs"), rec
        where = (rec["endpoint"], rec["deployment"], rec["route"], rec["status"])
        assert where == ("collect", "blue", "/score", 200), rec
        assert rec["latency_ms"] >= 0, rec
        columns = rec["columns"]  # rows without names: columns "0", "1", ..., stored column-wise
        assert [columns[str(i)][0] for i in range(len(row[0]))] == pytest.approx(row[0]), rec
    for rec in mine_out.to_dict("records"):
        assert (rec["collection"], rec["status"]) == ("model_outputs", 200), rec
        body = rec.get("columns") or rec.get("data")
        flat = next(iter(body.values())) if isinstance(body, dict) else body
        assert round(float(flat[0]), 6) == scoring["expected"]["blue"], rec
