"""Read the truth from a Deployment and its pods: rolled out? ready? stuck for good?

Pure functions over API dicts. "Stuck for good" (Stalled) means something a retry will not fix:
an image that cannot be pulled, a crash loop, a pod no node can take, a failed model download,
or the Deployment's own progress deadline. Anything else is still progressing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlendpoints.status import reasons

_PULL = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
_CONFIG = {"CreateContainerConfigError", "CreateContainerError"}
STORAGE_INITIALIZER = "storage-initializer"
CODE_INITIALIZER = "code-initializer"


@dataclass(frozen=True)
class Rollout:
    replicas: int
    ready: int
    updated: int
    available: int
    desired: int
    done: bool
    message: str


def rollout(deployment: Mapping[str, Any] | None, *, desired: int | None) -> Rollout:
    """Rollout progress of an apps/v1 Deployment (kubectl rollout status semantics)."""
    if deployment is None:
        return Rollout(0, 0, 0, 0, desired or 0, False, "Deployment not created yet")
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    want = desired if desired is not None else int(spec.get("replicas", 1))
    replicas = int(status.get("replicas", 0))
    ready = int(status.get("readyReplicas", 0))
    updated = int(status.get("updatedReplicas", 0))
    available = int(status.get("availableReplicas", 0))
    observed = status.get("observedGeneration", 0) >= deployment.get("metadata", {}).get("generation", 0)
    done = observed and updated == want and replicas == want and available == want and ready == want
    if not observed:
        msg = "waiting for the Deployment controller to observe the new spec"
    elif updated < want:
        msg = f"{updated}/{want} replicas updated"
    elif replicas > updated:
        msg = f"{replicas - updated} old replicas pending termination"
    elif available < want:
        msg = f"{available}/{want} replicas available"
    else:
        msg = f"{ready}/{want} replicas ready"
    return Rollout(replicas, ready, updated, available, want, done, msg)


@dataclass(frozen=True)
class Stall:
    reason: str
    message: str


def _waiting(statuses: Iterable[Mapping[str, Any]]) -> Iterable[tuple[str, str, str]]:
    """``(container, reason, message)`` of each waiting container.

    For ``CrashLoopBackOff`` the message is the last run's termination message (what the process
    wrote to its ``terminationMessagePath``, e.g. the runtime's ``model load failed: ...``), or its
    exit code, rather than the kubelet's "back-off 10s restarting failed container" text.
    """
    for cs in statuses:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if not waiting.get("reason"):
            continue
        message = waiting.get("message", "")
        last = (cs.get("lastState") or {}).get("terminated") or {}
        if waiting["reason"] == "CrashLoopBackOff":
            message = last.get("message") or f"last exit code {last.get('exitCode', '?')}"
        yield cs.get("name", "?"), waiting["reason"], message


def stalled_reason(deployment: Mapping[str, Any] | None, pods: Iterable[Mapping[str, Any]]) -> Stall | None:
    """The first permanent failure among the current pods, or None."""
    for cond in ((deployment or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return Stall(
                reasons.PROGRESS_DEADLINE_EXCEEDED, cond.get("message") or "rollout exceeded its deadline"
            )
    for pod in pods:
        name = pod.get("metadata", {}).get("name", "?")
        status = pod.get("status") or {}
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        for cond in status.get("conditions") or []:
            unschedulable = cond.get("reason") == "Unschedulable" and cond.get("status") == "False"
            if cond.get("type") == "PodScheduled" and unschedulable:
                return Stall(reasons.UNSCHEDULABLE, f"pod {name}: {cond.get('message') or 'unschedulable'}")
        for cs in status.get("initContainerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated") or {}
            last = (cs.get("lastState") or {}).get("terminated") or {}
            failed = term if term.get("exitCode", 0) else last if last.get("exitCode", 0) else None
            waiting = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
            if failed is not None or waiting == "CrashLoopBackOff":
                detail = (failed or {}).get("message") or (failed or {}).get("reason") or waiting or "failed"
                if cs.get("name") in (STORAGE_INITIALIZER, CODE_INITIALIZER):
                    what = "model" if cs.get("name") == STORAGE_INITIALIZER else "code"
                    return Stall(
                        reasons.MODEL_DOWNLOAD_FAILED, f"pod {name}: {what} download failed: {detail}"
                    )
                return Stall(
                    reasons.CRASH_LOOP, f"pod {name}: init container {cs.get('name')} failed: {detail}"
                )
        statuses = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
        for container, reason, message in _waiting(statuses):
            if reason in _PULL:
                return Stall(
                    reasons.IMAGE_PULL_FAILED,
                    f"pod {name}: container {container}: {reason} {message}".strip(),
                )
            if reason == "CrashLoopBackOff":
                return Stall(
                    reasons.CRASH_LOOP,
                    f"pod {name}: container {container} is crash-looping: {message}",
                )
            if reason in _CONFIG:
                return Stall(
                    reasons.CRASH_LOOP, f"pod {name}: container {container}: {reason} {message}".strip()
                )
    return None
