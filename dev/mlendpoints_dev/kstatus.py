"""The kstatus decision table (sigs.k8s.io/cli-utils ``status.Compute``) for our kinds.

Used by tests and by ``mlendpoints`` tooling to say what Flux / Helm 4 ``--wait`` will conclude
about an object, without running them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CURRENT = "Current"
IN_PROGRESS = "InProgress"
FAILED = "Failed"
TERMINATING = "Terminating"


def compute(obj: Mapping[str, Any]) -> str:
    """kstatus result for a custom resource (generic rules, in kstatus order)."""
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return TERMINATING
    status = obj.get("status") or {}
    observed = status.get("observedGeneration")
    if observed is not None and observed != meta.get("generation"):
        return IN_PROGRESS
    conditions = status.get("conditions") or []
    for cond in conditions:
        if cond.get("type") == "Reconciling" and cond.get("status") == "True":
            return IN_PROGRESS
        if cond.get("type") == "Stalled" and cond.get("status") == "True":
            return FAILED
    for cond in conditions:
        if cond.get("type") == "Ready":
            return CURRENT if cond.get("status") == "True" else IN_PROGRESS
    return CURRENT
