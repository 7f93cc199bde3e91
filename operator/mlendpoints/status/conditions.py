"""``set_condition`` with ``meta.SetStatusCondition`` semantics, and the kstatus outcome table.

kstatus (Flux, Helm 4 ``--wait``, Argo CD via our Lua) reads conditions in order and the first
of Reconciling=True / Stalled=True wins, so we never set both; see docs/status.md.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlendpoints.status import reasons

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"

Condition = dict[str, Any]


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    *,
    type: str,
    status: str,
    reason: str,
    message: str,
    generation: int | None,
    timestamp: str | None = None,
) -> list[Condition]:
    """Upsert one condition by type; ``lastTransitionTime`` moves only when ``status`` changes.

    Returns a new list (inputs are not mutated) in a stable order: existing types keep their
    position, a new type is appended.
    """
    out: list[Condition] = []
    found = False
    for cond in conditions:
        if cond.get("type") != type:
            out.append(dict(cond))
            continue
        found = True
        changed = cond.get("status") != status
        new = {
            "type": type,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": (timestamp or now()) if changed else cond.get("lastTransitionTime", now()),
        }
        if generation is not None:
            new["observedGeneration"] = generation
        out.append(new)
    if not found:
        new = {
            "type": type,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": timestamp or now(),
        }
        if generation is not None:
            new["observedGeneration"] = generation
        out.append(new)
    return out


def remove_condition(conditions: Sequence[Mapping[str, Any]], type: str) -> list[Condition]:
    return [dict(c) for c in conditions if c.get("type") != type]


def get_condition(conditions: Sequence[Mapping[str, Any]] | None, type: str) -> Mapping[str, Any] | None:
    for cond in conditions or ():
        if cond.get("type") == type:
            return cond
    return None


def is_true(conditions: Sequence[Mapping[str, Any]] | None, type: str) -> bool:
    cond = get_condition(conditions, type)
    return cond is not None and cond.get("status") == "True"


class State(enum.Enum):
    """The four rows of the kstatus table (docs/status.md)."""

    READY = "ready"  # Ready=True; Reconciling/Stalled absent
    PROGRESSING = "progressing"  # Ready=Unknown, Reconciling=True
    RETRYING = "retrying"  # Ready=False, Reconciling=True (transient error)
    STALLED = "stalled"  # Ready=False, Stalled=True (needs the user)


@dataclass(frozen=True)
class Outcome:
    """What a reconcile concluded, before it becomes conditions."""

    state: State
    reason: str
    message: str

    @classmethod
    def ready(cls, message: str = "", reason: str = reasons.READY) -> Outcome:
        return cls(State.READY, reason, message)

    @classmethod
    def progressing(cls, reason: str, message: str) -> Outcome:
        return cls(State.PROGRESSING, reason, message)

    @classmethod
    def retrying(cls, reason: str, message: str) -> Outcome:
        return cls(State.RETRYING, reason, message)

    @classmethod
    def stalled(cls, reason: str, message: str) -> Outcome:
        return cls(State.STALLED, reason, message)


def apply_outcome(
    conditions: Sequence[Mapping[str, Any]] | None,
    outcome: Outcome,
    *,
    generation: int | None,
    timestamp: str | None = None,
) -> list[Condition]:
    """Conditions for ``outcome``: exactly one kstatus row, never Reconciling and Stalled together."""
    conds: list[Condition] = [dict(c) for c in conditions or ()]
    kw: dict[str, Any] = {"generation": generation, "timestamp": timestamp}
    msg, reason = outcome.message, outcome.reason
    if outcome.state is State.READY:
        conds = set_condition(conds, type=READY, status="True", reason=reason, message=msg, **kw)
        conds = remove_condition(conds, RECONCILING)
        conds = remove_condition(conds, STALLED)
    elif outcome.state is State.PROGRESSING:
        conds = set_condition(conds, type=READY, status="Unknown", reason=reason, message=msg, **kw)
        conds = remove_condition(conds, STALLED)
        conds = set_condition(conds, type=RECONCILING, status="True", reason=reason, message=msg, **kw)
    elif outcome.state is State.RETRYING:
        conds = set_condition(conds, type=READY, status="False", reason=reason, message=msg, **kw)
        conds = remove_condition(conds, STALLED)
        conds = set_condition(conds, type=RECONCILING, status="True", reason=reason, message=msg, **kw)
    else:
        conds = set_condition(conds, type=READY, status="False", reason=reason, message=msg, **kw)
        conds = remove_condition(conds, RECONCILING)
        conds = set_condition(conds, type=STALLED, status="True", reason=reason, message=msg, **kw)
    return conds
