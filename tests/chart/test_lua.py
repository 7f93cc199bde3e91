"""The Argo CD health check gives the same verdicts as kstatus, on synthetic objects.

Objects captured from the real API server go through the same script in test_gitops.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mlendpoints.api.v1alpha1 import KINDS
from mlendpoints_dev import kstatus
from tests.chart import argo


def obj(
    generation: int = 1, observed: int | None = 1, conditions: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if observed is not None:
        status["observedGeneration"] = observed
    if conditions is not None:
        status["conditions"] = conditions
    return {"metadata": {"name": "x", "generation": generation}, "status": status}


def cond(type_: str, status: str, reason: str = "R", message: str = "m") -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": message}


CASES = [
    ("converged", obj(conditions=[cond("Ready", "True", message="serving")]), "Healthy"),
    (
        "working",
        obj(conditions=[cond("Ready", "Unknown"), cond("Reconciling", "True", message="rolling")]),
        "Progressing",
    ),
    ("retrying", obj(conditions=[cond("Ready", "False"), cond("Reconciling", "True")]), "Progressing"),
    (
        "stalled",
        obj(conditions=[cond("Ready", "False"), cond("Stalled", "True", message="bad spec")]),
        "Degraded",
    ),
    ("spec not observed", obj(generation=2, observed=1, conditions=[cond("Ready", "True")]), "Progressing"),
    ("ready false alone", obj(conditions=[cond("Ready", "False")]), "Progressing"),
    (
        "cleared conditions",
        obj(conditions=[cond("Ready", "True"), cond("Reconciling", "False"), cond("Stalled", "False")]),
        "Healthy",
    ),
]


@pytest.mark.parametrize(("case", "body", "expected"), CASES, ids=[c[0] for c in CASES])
def test_health_script_agrees_with_kstatus(case: str, body: dict[str, Any], expected: str) -> None:
    result = argo.health(body)
    assert result["status"] == expected, case
    assert argo.KSTATUS_TO_ARGO[kstatus.compute(body)] == expected, case


def test_messages_come_from_the_deciding_condition() -> None:
    assert argo.health(CASES[3][1])["message"] == "bad spec"
    assert argo.health(CASES[1][1])["message"] == "rolling"
    assert argo.health(CASES[0][1])["message"] == "serving"


def test_no_status_yet_is_progressing_in_argo() -> None:
    """Deliberately stricter than kstatus (which calls a CR without conditions Current)."""
    assert argo.health({"metadata": {"name": "x", "generation": 1}})["status"] == "Progressing"
    assert argo.health(obj(observed=None))["status"] == "Progressing"


def test_argocd_cm_ships_the_script_for_every_kind() -> None:
    config = yaml.safe_load(argo.ARGOCD_CM.read_text())
    assert config["metadata"] == {
        "name": "argocd-cm",
        "namespace": "argocd",
        "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
    }
    expected = {f"resource.customizations.health.mlendpoints.io_{k.crd.kind}" for k in KINDS}
    assert set(config["data"]) == expected
    script = argo.HEALTH_LUA.read_text()
    for key in expected:
        assert config["data"][key] == script, f"{key} differs from docs/gitops/health.lua"
