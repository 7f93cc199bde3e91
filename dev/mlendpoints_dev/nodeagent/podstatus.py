"""Pod phase and conditions from the containers' states, with the kubelet's rules.

* phase: ``Pending`` until every init container succeeded and every container was started once;
  ``Succeeded`` when every container terminated with 0 and none restarts; ``Failed`` when every
  container terminated, one failed and none restarts (or an init container failed under
  ``restartPolicy: Never``); otherwise ``Running``.
* conditions: ``PodReadyToStartContainers`` (sandbox, i.e. netns, ready), ``Initialized``,
  ``ContainersReady``, ``Ready``; ``PodScheduled`` is the scheduler's and is left alone.
  ``lastTransitionTime`` moves only when a condition's status changes.
"""

from __future__ import annotations

from mlendpoints_dev.nodeagent.containers import ContainerRun, now_iso
from mlendpoints_dev.nodeagent.kube import Obj


def will_restart(policy: str, c: ContainerRun) -> bool:
    """Whether a terminated container is restarted under ``policy``."""
    if c.terminated is None:
        return False
    if policy == "Always":
        return True
    return policy == "OnFailure" and int(c.terminated["exitCode"]) != 0


def phase(policy: str, inits: list[ContainerRun], mains: list[ContainerRun], init_failed: bool) -> str:
    if init_failed:
        return "Failed"
    if any(c.terminated is None or c.terminated["exitCode"] != 0 for c in inits):
        return "Pending"
    if any(c.running for c in mains):
        return "Running"
    if not all(c.terminated is not None for c in mains):
        started = any(c.restart_count or c.terminated is not None for c in mains)
        return "Running" if started else "Pending"
    if any(will_restart(policy, c) for c in mains):
        return "Running"
    return "Succeeded" if all(c.terminated and c.terminated["exitCode"] == 0 for c in mains) else "Failed"


class Conditions:
    """The agent-owned conditions of one pod, remembering transition times."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[str, str, str]] = {}  # type -> (status, time, reason)

    def set(self, ctype: str, ok: bool, reason: str = "") -> None:
        status = "True" if ok else "False"
        prev = self._state.get(ctype)
        if prev is None or prev[0] != status or prev[2] != reason:
            when = now_iso() if prev is None or prev[0] != status else prev[1]
            self._state[ctype] = (status, when, reason)

    def render(self) -> list[Obj]:
        out = []
        for ctype, (status, when, reason) in self._state.items():
            c: Obj = {"type": ctype, "status": status, "lastTransitionTime": when, "lastProbeTime": None}
            if reason:
                c["reason"] = reason
            out.append(c)
        return out


def pod_conditions(
    conds: Conditions, sandbox: bool, inits: list[ContainerRun], mains: list[ContainerRun], terminal: bool
) -> list[Obj]:
    """Update and render the conditions (kubelet reasons: ContainersNotInitialized, ContainersNotReady,
    PodCompleted)."""
    conds.set("PodReadyToStartContainers", sandbox and not terminal)
    initialized = all(c.terminated is not None and c.terminated["exitCode"] == 0 for c in inits)
    conds.set("Initialized", initialized, "" if initialized else "ContainersNotInitialized")
    ready = initialized and all(c.ready for c in mains) and not terminal
    reason = "PodCompleted" if terminal else ("" if ready else "ContainersNotReady")
    conds.set("ContainersReady", ready, reason)
    conds.set("Ready", ready, reason)
    return conds.render()
