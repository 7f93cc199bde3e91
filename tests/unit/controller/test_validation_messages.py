"""An invalid object is described identically by the operator's status and by ``mlendpoints render``.

Inputs: every offline case of ``tests/data/invalid_manifests.yaml``. The operator side runs the real
Manager and reconcilers against the in-memory API (fakekube.py) and reads the Stalled condition's
message; the render side runs ``mlendpoints render -f`` on the same manifest and reads its one
error line. Both must carry the same ``spec.field: message`` text (api/errors.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlendpoints.controller.manager import Manager
from mlendpoints.controller.settings import OperatorSettings
from mlendpoints.render import cli
from tests.unit.controller.fakekube import FakeKube

ROOT = Path(__file__).resolve().parents[3]
CASES: list[dict[str, Any]] = yaml.safe_load((ROOT / "tests/data/invalid_manifests.yaml").read_text())
NS = "default"
API = "mlendpoints.io/v1alpha1"


def _status_message(manifest: dict[str, Any]) -> str:
    """The Stalled/InvalidSpec message the operator writes for ``manifest``."""
    kube = FakeKube()
    body = {"apiVersion": API, **manifest, "metadata": dict(manifest["metadata"])}
    if body["kind"] != "InstanceType":
        body["metadata"]["namespace"] = NS
    stored = kube.put(body)

    async def scenario() -> None:
        manager = Manager(kube, OperatorSettings())  # type: ignore[arg-type]
        await manager._prime()
        meta = stored["metadata"]
        await manager._reconcile((stored["kind"], meta.get("namespace") or "", meta["name"]))

    asyncio.run(scenario())
    meta = stored["metadata"]
    live = kube.find(stored["kind"], meta.get("namespace") or "", meta["name"])
    assert live is not None
    stalled = [c for c in live.get("status", {}).get("conditions", []) if c["type"] == "Stalled"]
    assert stalled, live.get("status")
    assert stalled[0]["status"] == "True", stalled[0]
    assert stalled[0]["reason"] == "InvalidSpec", stalled[0]
    return str(stalled[0]["message"])


def _render_message(manifest: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The text after ``FILE#1: Kind name: `` in ``mlendpoints render``'s error line."""
    f = tmp_path / "invalid.yaml"
    f.write_text(yaml.safe_dump({"apiVersion": API, **manifest}))
    code = cli.main(["-f", str(f)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    prefix = f"{f}#1: {manifest['kind']} {manifest['metadata']['name']}: "
    assert prefix in err, err
    return err.split(prefix, 1)[1]


@pytest.mark.parametrize("case", [c for c in CASES if c.get("offline", True)], ids=lambda c: c["case"])
def test_status_and_render_print_the_same_message(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _status_message(case["manifest"])
    assert status == _render_message(case["manifest"], tmp_path, capsys)
    # The API server's form: the field path first (never pydantic's "spec: Value error, ...").
    assert "Value error" not in status
    parent = case["expect"].rpartition(".")[0] or case["expect"]
    assert status.startswith(parent), status


def test_model_level_message_names_the_field() -> None:
    manifest = CASES[0]["manifest"]  # traffic-sum-not-100: a model validator at spec
    assert _status_message(manifest).startswith("spec.traffic: "), _status_message(manifest)
