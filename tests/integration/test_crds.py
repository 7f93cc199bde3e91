"""The generated CRDs on a real API server: structural, Established, validating, printing, scaling.

Inputs: the committed ``crds/``, ``examples/`` and ``tests/data/invalid_manifests.yaml``.
Nothing here runs the operator: this is what the API server alone guarantees.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlendpoints.api import v1alpha1 as api

ROOT = Path(__file__).resolve().parents[2]
CASES: list[dict[str, Any]] = yaml.safe_load((ROOT / "tests/data/invalid_manifests.yaml").read_text())
#: The API server's notice, next to an enum/required/type error, that it did not run the CEL rules.
CEL_SKIPPED = (
    "<nil>: Invalid value: null: some validation rules were not checked because the object was "
    "invalid; correct the existing errors to complete validation"
)
#: A rejection names the field first: ``spec.traffic: Invalid value: ...``, ``metadata.name: ...``.
FIELD_FIRST = re.compile(r"^\.?(metadata|spec)(\.[\w/-]+|\[[^\]]+\])*: ")


def _errors(stderr: str) -> list[str]:
    """The errors of a rejected apply, as the API server lists them.

    One error: ``... is invalid: spec.x: Invalid value: ...``; several: ``... is invalid: `` then
    one ``* spec.x: ...`` line each; an unknown field (server-side apply's strict decoding):
    ``... (namespace/name; group/version, Kind=X): .spec.x: field not declared in schema``.
    """
    if "is invalid: " in stderr:
        rest = stderr.partition("is invalid: ")[2]
        lines = [line.removeprefix("* ") for line in rest.strip().splitlines()]
        return [line for line in lines if line]
    return [stderr.strip().rpartition("): ")[2]]


def _with_api_version(manifest: dict[str, Any], namespace: str) -> dict[str, Any]:
    out = {"apiVersion": api.API_VERSION, **manifest}
    out["metadata"] = dict(manifest["metadata"])
    if out["kind"] != "InstanceType":
        out["metadata"]["namespace"] = namespace
    return out


def test_every_crd_is_established_and_structural(cluster: Any) -> None:
    for kind in api.KINDS:
        crd = cluster.kubectl_json("get", "crd", kind.crd.name)
        conds = {c["type"]: c for c in crd["status"]["conditions"]}
        assert conds["Established"]["status"] == "True", conds
        assert conds["NamesAccepted"]["status"] == "True", conds
        # A non-structural schema is reported by the API server as NonStructuralSchema.
        assert "NonStructuralSchema" not in conds, conds.get("NonStructuralSchema")


def test_every_example_is_accepted(cluster: Any, namespace: str) -> None:
    applied = set()
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        out = cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(path)).stdout
        applied |= {line.split()[0].split("/")[0] for line in out.splitlines() if line.strip()}
    kinds = {f"{k.crd.singular}.{api.GROUP}" for k in api.KINDS}
    assert kinds <= applied, f"kinds without an accepted example: {kinds - applied}"
    ep = cluster.kubectl_json("get", "oep", "diabetes", "-n", namespace)
    assert ep["spec"]["traffic"] == {"blue": 90, "green": 10}
    # Structural defaults are applied by the API server (Azure ML's service defaults).
    dep = cluster.kubectl_json("get", "odep", "blue", "-n", namespace)
    assert dep["spec"]["requestSettings"] == {
        "requestTimeoutMs": 5000,
        "maxConcurrentRequestsPerInstance": 1,
        "maxQueueWaitMs": 500,
    }
    assert dep["spec"]["livenessProbe"]["failureThreshold"] == 30
    assert ep["spec"]["authMode"] == "key"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["case"])
def test_invalid_manifest_is_rejected_naming_the_field(
    cluster: Any, namespace: str, case: dict[str, Any]
) -> None:
    if "before" in case:
        cluster.apply(_with_api_version(case["before"], namespace))
    manifest = _with_api_version(case["manifest"], namespace)
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=test",
        "--force-conflicts",
        "-f",
        "-",
        input=json.dumps(manifest),
        check=False,
    )
    assert result.returncode != 0, f"accepted: {manifest}"
    assert case["expect"] in result.stderr, result.stderr
    # Every error names its field first (a CEL rule at the root would print "<nil>" there). The
    # one exception is the API server's own notice that it skipped the CEL rules because of an
    # enum/required/type error: it always has no path (apiextensions' hasBlockingErr).
    errors = [e for e in _errors(result.stderr) if e != CEL_SKIPPED]
    assert errors, result.stderr
    for error in errors:
        assert "<nil>" not in error, result.stderr
        assert FIELD_FIRST.match(error), f"{error!r} does not start with a field path"
    if manifest["kind"] == "InstanceType":
        cluster.kubectl(
            "delete", "instancetype", manifest["metadata"]["name"], "--ignore-not-found", check=False
        )


def test_kubectl_get_ml_lists_all_kinds_with_printer_columns(cluster: Any, namespace: str) -> None:
    for path in sorted((ROOT / "examples").rglob("*.yaml")):
        cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", str(path))
    out = cluster.kubectl("get", "ml", "-n", namespace).stdout
    for kind in api.KINDS:
        assert f"{kind.crd.singular}.{api.GROUP}/" in out, out
    header_lines = [line for line in out.splitlines() if line.startswith("NAME")]
    headers = {tuple(line.split()) for line in header_lines}
    assert ("NAME", "READY", "TRAFFIC", "URL", "AGE") in headers, headers
    assert ("NAME", "ENDPOINT", "READY", "REPLICAS", "MODEL", "AGE") in headers, headers
    assert ("NAME", "PHASE", "READY", "REASON", "PROGRESS", "AGE") in headers, headers


def test_kubectl_scale_updates_instance_count(cluster: Any, namespace: str) -> None:
    cluster.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", str(ROOT / "examples/online/blue-green.yaml")
    )
    cluster.kubectl("scale", "odep/blue", "--replicas=3", "-n", namespace)
    dep = cluster.kubectl_json("get", "odep", "blue", "-n", namespace)
    assert dep["spec"]["instanceCount"] == 3


def test_kubectl_explain_documents_fields(cluster: Any) -> None:
    out = cluster.kubectl("explain", "onlinedeployments.spec.requestSettings").stdout
    assert "maxQueueWaitMs" in out
    assert "503" in out  # the description says what happens, not just the type
