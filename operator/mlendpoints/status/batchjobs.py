"""A BatchJob's phase and progress, read from its Kubernetes Job and the Job's pods (pure).

Progress without extra RBAC for the pods: each pod's batch runner writes a JSON summary of its
index to the termination message when it exits (:meth:`mlendpoints.batch.runner.Outcome.termination_message`);
the operator sums the latest message of every index. The index that assembled the outputs
reports the whole job's counters, which then win. Live per-mini-batch progress is in the output's
``logs/user/job_progress_overview.txt``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

COUNTERS = ("completedMiniBatches", "failedMiniBatches", "succeededItems", "failedItems")
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


@dataclass
class JobView:
    phase: str
    """Pending, Running, Succeeded, Failed or Canceled."""
    progress: dict[str, int] = field(default_factory=dict)
    """totalMiniBatches and the COUNTERS (the API's JobProgress)."""
    message: str = ""
    error: str = ""
    """First error reported by a pod (quoted in the Failed condition)."""
    start_time: str | None = None
    completion_time: str | None = None

    @property
    def progress_text(self) -> str:
        total = self.progress.get("totalMiniBatches")
        done = self.progress.get("completedMiniBatches", 0)
        return f"{done}/{total}" if total is not None else f"{done}/?"


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def log_error(text: str) -> str:
    """The error a container's log tail ends with, in at most 500 characters.

    A Python traceback's last unindented line is the exception (``ValueError: ...``); the lines
    above it (frames, source excerpts, ``^^^^`` markers) are for the log, not for a condition
    message. A log tail may start inside the traceback (FallbackToLogsOnError keeps the last
    2 KiB), so a ``  File "..."`` frame line is enough to know one. Other text gives its last 500
    characters.
    """
    lines = [line for line in text.strip().splitlines() if line.strip()]
    last = next((line for line in reversed(lines) if not line[0].isspace()), None)
    framed = any(line.startswith(("Traceback (most recent call last)", '  File "')) for line in lines)
    if last is not None and framed:
        return last.strip()[:500]
    return text.strip()[-500:]


def termination_messages(
    pods: Iterable[Mapping[str, Any]], container: str
) -> list[tuple[str, dict[str, Any]]]:
    """``(finishedAt, message)`` of every terminated ``container`` that left a JSON message (else
    ``{"error": text}`` for a plain-text message: FallbackToLogsOnError's log tail)."""
    out = []
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated")
            if cs.get("name") != container or not term or not term.get("message"):
                continue
            try:
                data = json.loads(term["message"])
            except ValueError:
                data = {"error": log_error(str(term["message"])), "ok": False}
            if not isinstance(data, dict):
                continue
            index = (pod.get("metadata") or {}).get("annotations", {}).get(INDEX_ANNOTATION)
            data.setdefault("index", int(index) if index and index.isdigit() else -1)
            out.append((str(term.get("finishedAt") or ""), data))
    return sorted(out, key=lambda pair: pair[0])


def progress(messages: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, int], str]:
    """Summed counters of the latest message per index (the assembling index's, when there is one)
    and the first error any index reported."""
    latest: dict[int, dict[str, Any]] = {}
    error = ""
    for _, data in messages:
        latest[int(data.get("index", -1))] = data
        if data.get("error") and not error:
            error = str(data["error"])
    assembled = [d for d in latest.values() if d.get("assembled")]
    totals: dict[str, int] = {}
    if assembled:
        totals = {k: int(assembled[-1].get(k, 0)) for k in COUNTERS}
    elif latest:
        totals = {k: sum(int(d.get(k, 0)) for d in latest.values()) for k in COUNTERS}
    for d in latest.values():
        if "totalMiniBatches" in d:
            totals["totalMiniBatches"] = int(d["totalMiniBatches"])
    return totals, error


def view(job: Mapping[str, Any] | None, pods: Iterable[Mapping[str, Any]], container: str) -> JobView:
    """The BatchJob's phase from its Job (None: not created yet)."""
    if job is None:
        return JobView("Pending", message="creating the Job")
    status = job.get("status") or {}
    counters, error = progress(termination_messages(pods, container))
    out = JobView("Pending", counters, error=error, start_time=status.get("startTime"))
    failed = _condition(job, "Failed")
    if _condition(job, "Complete") is not None:
        out.phase, out.completion_time = "Succeeded", status.get("completionTime")
        out.message = (
            f"{counters.get('completedMiniBatches', 0)}/{counters.get('totalMiniBatches', 0)} mini-batches, "
            f"{counters.get('succeededItems', 0)} items succeeded, {counters.get('failedItems', 0)} failed"
        )
    elif failed is not None:
        out.phase, out.completion_time = "Failed", failed.get("lastTransitionTime")
        why = error or failed.get("message") or failed.get("reason") or "the Job failed"
        out.message = f"{why} (see logs/user/job_error.txt in the output)"
    elif (job.get("spec") or {}).get("suspend"):
        out.phase, out.message = "Canceled", "suspended: no pods run; set spec.suspend=false to resume"
    elif status.get("active") or status.get("succeeded") or status.get("failed"):
        out.phase = "Running"
        out.message = f"{status.get('active', 0)} pod(s) running, {status.get('succeeded', 0)} index(es) done"
    else:
        out.message = "waiting for pods"
    return out
