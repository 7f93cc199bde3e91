"""Condition bookkeeping, the kstatus table, and reading workloads: pure functions on dicts."""

from __future__ import annotations

from typing import Any

import pytest

from mlendpoints.backends.kubernetes.outcome import recordable
from mlendpoints.status import conditions, reasons, workloads
from mlendpoints.status.conditions import Outcome
from mlendpoints_dev import kstatus


def test_set_condition_moves_transition_time_only_on_status_change() -> None:
    c1 = conditions.set_condition(
        [], type="Ready", status="False", reason="A", message="m", generation=1, timestamp="t1"
    )
    c2 = conditions.set_condition(
        c1, type="Ready", status="False", reason="B", message="m2", generation=2, timestamp="t2"
    )
    assert c2[0]["lastTransitionTime"] == "t1"
    assert (c2[0]["reason"], c2[0]["observedGeneration"]) == ("B", 2)
    c3 = conditions.set_condition(
        c2, type="Ready", status="True", reason="C", message="", generation=2, timestamp="t3"
    )
    assert c3[0]["lastTransitionTime"] == "t3"
    assert c1[0]["reason"] == "A"  # inputs are not mutated


@pytest.mark.parametrize(
    ("outcome", "expected", "health"),
    [
        (Outcome.ready("ok"), {"Ready": "True"}, kstatus.CURRENT),
        (
            Outcome.progressing(reasons.ROLLING_OUT, "1/2"),
            {"Ready": "Unknown", "Reconciling": "True"},
            kstatus.IN_PROGRESS,
        ),
        (
            Outcome.retrying(reasons.RECONCILE_ERROR, "x"),
            {"Ready": "False", "Reconciling": "True"},
            kstatus.IN_PROGRESS,
        ),
        (
            Outcome.stalled(reasons.UNKNOWN_INSTANCE_TYPE, "x"),
            {"Ready": "False", "Stalled": "True"},
            kstatus.FAILED,
        ),
    ],
)
def test_outcomes_follow_the_kstatus_table(outcome: Outcome, expected: dict[str, str], health: str) -> None:
    # Start from the opposite state so stale conditions must be removed.
    start = conditions.apply_outcome([], Outcome.stalled("X", "y"), generation=1)
    start = conditions.apply_outcome(start, Outcome.progressing("X", "y"), generation=1)
    conds = conditions.apply_outcome(start, outcome, generation=3)
    assert {c["type"]: c["status"] for c in conds} == expected
    obj = {"metadata": {"generation": 3}, "status": {"observedGeneration": 3, "conditions": conds}}
    assert kstatus.compute(obj) == health


def test_kstatus_in_progress_until_generation_observed_and_current_without_conditions() -> None:
    ready = conditions.apply_outcome([], Outcome.ready(), generation=1)
    assert kstatus.compute(
        {"metadata": {"generation": 2}, "status": {"observedGeneration": 1, "conditions": ready}}
    ) == (kstatus.IN_PROGRESS)
    assert kstatus.compute({"metadata": {"generation": 1}}) == kstatus.CURRENT
    assert kstatus.compute({"metadata": {"deletionTimestamp": "t"}}) == kstatus.TERMINATING


def _deployment(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": 2},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 2, **status},
    }


def test_rollout_done_only_when_every_replica_is_updated_available_and_ready() -> None:
    full = {"replicas": 2, "readyReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    assert workloads.rollout(_deployment(**full), desired=2).done
    assert not workloads.rollout(_deployment(**{**full, "updatedReplicas": 1}), desired=2).done
    assert not workloads.rollout(
        _deployment(**{**full, "replicas": 3}), desired=2
    ).done  # old pod still there
    stale = _deployment(**full)
    stale["status"]["observedGeneration"] = 1
    assert not workloads.rollout(stale, desired=2).done
    assert not workloads.rollout(None, desired=1).done


def _pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "status": status}


@pytest.mark.parametrize(
    ("pod", "reason"),
    [
        (
            _pod(
                containerStatuses=[{"name": "scoring", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]
            ),
            reasons.IMAGE_PULL_FAILED,
        ),
        (
            _pod(
                containerStatuses=[{"name": "scoring", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
            ),
            reasons.CRASH_LOOP,
        ),
        (
            _pod(
                conditions=[
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/3 nodes",
                    }
                ]
            ),
            reasons.UNSCHEDULABLE,
        ),
        (
            _pod(
                initContainerStatuses=[
                    {
                        "name": "storage-initializer",
                        "state": {"terminated": {"exitCode": 1, "message": "404"}},
                    }
                ]
            ),
            reasons.MODEL_DOWNLOAD_FAILED,
        ),
        (
            _pod(
                containerStatuses=[{"name": "scoring", "state": {"waiting": {"reason": "ContainerCreating"}}}]
            ),
            None,
        ),
    ],
)
def test_stalled_reason_from_pods(pod: dict[str, Any], reason: str | None) -> None:
    stall = workloads.stalled_reason(_deployment(), [pod])
    assert (stall.reason if stall else None) == reason


def test_crash_loop_names_the_last_termination_message() -> None:
    waiting = {
        "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s restarting failed container"}
    }
    last = {"terminated": {"exitCode": 143, "reason": "Error", "message": "model load failed: OSError: no"}}
    pod = _pod(containerStatuses=[{"name": "scoring", "state": waiting, "lastState": last}])
    stall = workloads.stalled_reason(_deployment(), [pod])
    assert stall is not None
    assert stall.reason == reasons.CRASH_LOOP
    assert stall.message == "pod p: container scoring is crash-looping: model load failed: OSError: no"
    del last["terminated"]["message"]
    stall = workloads.stalled_reason(_deployment(), [pod])
    assert stall is not None
    assert stall.message.endswith("crash-looping: last exit code 143"), stall


def test_progress_deadline_is_stalled() -> None:
    dep = _deployment(
        conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
    )
    stall = workloads.stalled_reason(dep, [])
    assert stall is not None
    assert stall.reason == reasons.PROGRESS_DEADLINE_EXCEEDED


def test_events_record_transitions_and_diagnoses_not_rollout_steps() -> None:
    unknown = {"type": "Ready", "status": "Unknown", "reason": "RollingOut"}
    ready = {"type": "Ready", "status": "True", "reason": "Ready"}
    assert not recordable(None, Outcome.progressing("RollingOut", "waiting"))
    assert not recordable(unknown, Outcome.progressing("WaitingForDeployments", "blue"))
    assert recordable(unknown, Outcome.ready("serving"))
    assert not recordable(ready, Outcome.ready("serving blue=100"))
    assert recordable(ready, Outcome.progressing("RollingOut", "new spec"))
    assert recordable(unknown, Outcome.progressing("AzureOperationInProgress", "409"))
    assert recordable(unknown, Outcome.stalled("CrashLoopBackOff", "pod"))
    stalled = {"type": "Ready", "status": "False", "reason": "CrashLoopBackOff"}
    assert not recordable(stalled, Outcome.stalled("CrashLoopBackOff", "pod, again"))
