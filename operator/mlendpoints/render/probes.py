"""Liveness and readiness probes, mapped field by field from the deployment's ProbeSettings.

Never dropped and never moved to another container (KServe dropped or misapplied custom
probes: kserve#2994, #3909): the scoring container always gets both probes, with exactly the
user's timing.
"""

from __future__ import annotations

from mlendpoints.api import contract
from mlendpoints.api.v1alpha1.online import ProbeSettings
from mlendpoints.render.types import Obj

#: The runtime's routes: liveness is the process answering at all, readiness is the model loaded.
RUNTIME_LIVENESS_PATH = contract.LIVENESS_PATH
RUNTIME_READINESS_PATH = contract.READINESS_PATH


def http_probe(settings: ProbeSettings, *, path: str, port: int | str) -> Obj:
    """A core/v1 Probe with an ``httpGet`` handler and every timing field of ``settings``."""
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "initialDelaySeconds": settings.initial_delay,
        "periodSeconds": settings.period,
        "timeoutSeconds": settings.timeout,
        "successThreshold": settings.success_threshold,
        "failureThreshold": settings.failure_threshold,
    }
