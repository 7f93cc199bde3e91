"""Which InstanceType an OnlineDeployment uses: one rule, the same answer everywhere.

Inputs: four OnlineDeployments (one naming an InstanceType, one naming none and setting no
resources, one setting its own resources, one with ``resources: {}``) and two InstanceTypes with
distinct nodeSelectors. Outputs compared: the pods the reconciler renders (fakekube.py), the
InstanceType's user count the operator reports, and ``mlendpoints render`` on the same manifests.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlendpoints.api.v1alpha1.instancetype import DEFAULT_INSTANCE_TYPE, resolve_name
from mlendpoints.backends.kubernetes import instancetype
from mlendpoints.controller.manager import Manager
from mlendpoints.controller.settings import OperatorSettings
from mlendpoints.render import cli
from tests.unit.controller.fakekube import FakeKube

NS = "default"
API = "mlendpoints.io/v1alpha1"
MODEL = {"path": "https://models.example.com/m/1/", "type": "mlflow"}
#: deployment name -> (spec fields, the InstanceType it must use)
DEPLOYMENTS: dict[str, tuple[dict[str, Any], str | None]] = {
    "named": ({"instanceType": "small"}, "small"),
    "plain": ({}, DEFAULT_INSTANCE_TYPE),
    "own": ({"resources": {"requests": {"cpu": "1"}}}, None),
    "empty": ({"resources": {}}, None),
}


@pytest.mark.parametrize(
    ("named", "resources", "expected"),
    [
        ("gpu", None, "gpu"),
        ("gpu", {"requests": {"cpu": "1"}}, "gpu"),
        (None, None, DEFAULT_INSTANCE_TYPE),
        ("", None, DEFAULT_INSTANCE_TYPE),
        (None, {"requests": {"cpu": "1"}}, None),
        (None, {}, None),
    ],
)
def test_resolve_name(named: str | None, resources: object, expected: str | None) -> None:
    assert resolve_name(named, resources) == expected


def _objects() -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [
        {
            "apiVersion": API,
            "kind": "InstanceType",
            "metadata": {"name": name},
            "spec": {"nodeSelector": {"pool": name}},
        }
        for name in ("small", DEFAULT_INSTANCE_TYPE)
    ]
    objs.append(
        {
            "apiVersion": API,
            "kind": "OnlineEndpoint",
            "metadata": {"name": "ep1", "namespace": NS},
            "spec": {"routing": {"type": "none"}},
        }
    )
    for name, (spec, _) in DEPLOYMENTS.items():
        objs.append(
            {
                "apiVersion": API,
                "kind": "OnlineDeployment",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"endpointName": "ep1", "model": MODEL, **spec},
            }
        )
    return objs


def _node_selectors(deployments: list[dict[str, Any]]) -> dict[str, str | None]:
    """deployment name (from the Deployment's labels) -> its pods' ``pool`` node selector."""
    return {
        d["metadata"]["labels"]["mlendpoints.io/deployment"]: (
            d["spec"]["template"]["spec"].get("nodeSelector") or {}
        ).get("pool")
        for d in deployments
    }


def test_reconciler_user_count_and_render_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = {name: used for name, (_, used) in DEPLOYMENTS.items()}
    kube = FakeKube()
    for obj in _objects():
        kube.put(obj)

    async def scenario() -> dict[str, list[tuple[str, str]]]:
        manager = Manager(kube, OperatorSettings())  # type: ignore[arg-type]
        await manager._prime()
        await manager._reconcile(("OnlineEndpoint", NS, "ep1"))  # its keys Secret comes first
        for name in DEPLOYMENTS:
            await manager._reconcile(("OnlineDeployment", NS, name))
        return {it: instancetype.users(manager.ctx, it) for it in ("small", DEFAULT_INSTANCE_TYPE)}

    users = asyncio.run(scenario())
    reconciled = [o for (kind, _, _), o in kube.objects.items() if kind == "Deployment"]
    assert _node_selectors(reconciled) == expected
    assert {it: sorted(n for _, n in deps) for it, deps in users.items()} == {
        "small": ["named"],
        DEFAULT_INSTANCE_TYPE: ["plain"],
    }

    f = tmp_path / "all.yaml"
    f.write_text(yaml.safe_dump_all(_objects()))
    assert cli.main(["-f", str(f)]) == 0
    rendered = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d and d["kind"] == "Deployment"]
    assert _node_selectors(rendered) == expected
