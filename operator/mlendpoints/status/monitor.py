"""ModelMonitor ``status.lastRun`` from the latest finished drift pod (pure: pod bodies in, dict out).

A run's pod writes a compact JSON summary to its termination message (``mlendpoints monitor drift
--termination-message``; see ``monitoring/cli.py``); a failed pod's message is its error (or the
tail of its log, with ``FallbackToLogsOnError``).
"""

from __future__ import annotations

import json
from typing import Any

Body = dict[str, Any]
CONTAINER = "drift"


def _terminated(pod: Body) -> Body | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == CONTAINER:
            terminated = (cs.get("state") or {}).get("terminated")
            return terminated if isinstance(terminated, dict) else None
    return None


def latest_finished(pods: list[Body]) -> tuple[Body, Body] | None:
    """``(pod, terminated state)`` of the pod that finished last, or None."""
    done = [(p, t) for p in pods if (t := _terminated(p)) is not None and t.get("finishedAt")]
    if not done:
        return None
    return max(done, key=lambda pt: str(pt[1]["finishedAt"]))


def last_run(pods: list[Body]) -> Body | None:
    """``status.lastRun`` (camelCase) of the latest finished run, or None when none finished."""
    found = latest_finished(pods)
    if found is None:
        return None
    pod, term = found
    labels = (pod.get("metadata") or {}).get("labels") or {}
    run: Body = {
        "time": term["finishedAt"],
        "jobName": labels.get("job-name") or labels.get("batch.kubernetes.io/job-name"),
    }
    message = str(term.get("message") or "")
    if term.get("exitCode") != 0:
        return run | {"result": "failed", "message": message[-1024:] or f"exit code {term.get('exitCode')}"}
    try:
        summary = json.loads(message)
        window = summary.get("window") or {}
        features = [
            {"name": str(n), "metric": str(m), "score": s, "threshold": t, "drifted": bool(d)}
            for n, m, s, t, d in summary.get("features") or []
        ]
    except (ValueError, TypeError, AttributeError):
        return run | {"result": "failed", "message": f"unreadable result: {message[:200]!r}"}
    return run | {
        "result": str(summary.get("result", "")),
        "message": str(summary.get("message", "")),
        "windowStart": window.get("start"),
        "windowEnd": window.get("end"),
        "driftedFeatures": [str(f) for f in summary.get("drifted") or []],
        "features": features,
    }
