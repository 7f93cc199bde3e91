"""API writes of a benchmark phase, read from the control plane's audit log.

The dev cluster logs one audit event per write request (``mlendpoints_dev.cluster.audit_policy``),
with the client's user name: the operator runs under its own, so its writes are told apart from
everyone else's (the benchmark client, the controller-manager, the scheduler, kwok, the gateway
stand-in). Failed requests (a 409 on a stale resourceVersion) are writes too: they are counted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

#: Kinds per plural in the audit log's ``objectRef.resource``, for the goal's "children".
STATUS_OF = {
    "onlineendpoints/status": "OnlineEndpoint",
    "onlinedeployments/status": "OnlineDeployment",
}
#: Kubernetes Events: API writes, but records of transitions rather than writes to an object.
EVENTS = "events"


class Mark(NamedTuple):
    """A position in the audit log: the file (by inode, it survives rotation) and a byte offset."""

    inode: int
    offset: int


def mark(log: Path) -> Mark:
    """The end of the audit log now."""
    st = log.stat()
    return Mark(st.st_ino, st.st_size)


def since(log: Path, start: Mark) -> Iterator[dict[str, Any]]:
    """Every audit event written after ``start``, across one rotation of the log.

    The API server renames a full log to ``audit-<time>.log`` (``--audit-log-maxsize``): the
    events after ``start`` are then the rest of that file and all of the new one.

    Raises:
        RuntimeError: the file ``start`` points into is gone (rotated twice).
    """
    files = [log]
    if log.stat().st_ino != start.inode:
        rotated = [p for p in log.parent.glob(f"{log.stem}-*{log.suffix}") if p.stat().st_ino == start.inode]
        if not rotated:
            raise RuntimeError(f"{log} rotated more than once since the mark: counts would be incomplete")
        files = [rotated[0], log]
    for i, path in enumerate(files):
        with path.open("rb") as fh:
            if i == 0 and path.stat().st_ino == start.inode:
                fh.seek(start.offset)
            for line in fh:
                if line.endswith(b"\n"):
                    yield json.loads(line)


def writes(log: Path, start: Mark, verbs: Iterable[str]) -> list[dict[str, Any]]:
    """The audit events of write ``verbs`` since ``start``."""
    wanted = set(verbs)
    return [e for e in since(log, start) if e.get("verb") in wanted]


def resource(event: Mapping[str, Any]) -> str:
    """``plural`` or ``plural/subresource`` of an audit event (e.g. ``onlineendpoints/status``)."""
    ref = event.get("objectRef") or {}
    sub = ref.get("subresource")
    return f"{ref.get('resource')}/{sub}" if sub else str(ref.get("resource"))


def actor(event: Mapping[str, Any], operator_user: str) -> str:
    """``operator`` for the operator's requests, else the short user name of the client."""
    user = str((event.get("user") or {}).get("username", "?"))
    if user == operator_user:
        return "operator"
    return user.removeprefix("system:serviceaccount:kube-system:").removeprefix("system:")


def breakdown(events: Iterable[Mapping[str, Any]], operator_user: str) -> dict[str, dict[str, int]]:
    """``"verb resource" -> {actor: count}`` over ``events``, sorted by key.

    Returns:
        e.g. ``{"patch onlineendpoints/status": {"operator": 400, "operator_failed": 3}}``: only
        actors with writes appear; ``operator_failed`` counts the operator's requests that the
        API server refused (a 409 on a stale resourceVersion, a 404), which ``operator`` includes.
    """
    table: dict[str, Counter[str]] = {}
    for event in events:
        key = f"{event.get('verb')} {resource(event)}"
        who = actor(event, operator_user)
        table.setdefault(key, Counter())[who] += 1
        code = int((event.get("responseStatus") or {}).get("code") or 0)
        if who == "operator" and not 200 <= code < 300:
            table[key]["operator_failed"] += 1
    return {k: dict(v) for k, v in sorted(table.items())}


def operator_totals(table: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """The operator's writes split the way the goal counts them.

    Returns:
        ``{"status": ..., "events": ..., "children": ..., "total": ..., "failed": ...}``:
        status-subresource patches of OnlineEndpoints/OnlineDeployments, Events created, every
        other write (child applies and deletes, metadata patches of the operator's own
        resources), their sum, and how many of them the API server refused.
    """
    out = {"status": 0, "events": 0, "children": 0, "total": 0, "failed": 0}
    for key, actors in table.items():
        count = actors.get("operator", 0)
        out["failed"] += actors.get("operator_failed", 0)
        res = key.split(" ", 1)[1]
        bucket = "status" if res in STATUS_OF else "events" if res == EVENTS else "children"
        out[bucket] += count
        out["total"] += count
    return out


def goal_lines(
    totals: Mapping[str, int], *, endpoints: int, children_per_endpoint: int, objects_per_endpoint: int
) -> list[tuple[str, float, float]]:
    """Per-endpoint writes next to the goal "children + 2 status writes per object".

    Args:
        totals: :func:`operator_totals` of the run.
        endpoints: Endpoints in the run (each with its deployments).
        children_per_endpoint: Child objects the floor applies per endpoint (its ConfigMap excluded).
        objects_per_endpoint: The operator's own objects per endpoint (1 endpoint + its deployments).

    Returns:
        ``(label, measured per endpoint, goal per endpoint)`` rows.
    """
    n = max(endpoints, 1)
    status_goal = 2 * objects_per_endpoint
    return [
        ("child writes (apply, delete, metadata patch)", totals["children"] / n, children_per_endpoint),
        ("status writes", totals["status"] / n, status_goal),
        ("total excl. Events", (totals["total"] - totals["events"]) / n, children_per_endpoint + status_goal),
        ("  of which refused by the API server (409, 404)", totals["failed"] / n, float("nan")),
        ("Events (reported; not in the goal)", totals["events"] / n, float("nan")),
    ]


def format_table(table: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Lines of the breakdown: verb resource, operator count, others (total, then by client)."""
    lines = [f"  {'verb resource':<40}{'operator':>9}{'failed':>7}{'others':>9}  others by client"]
    for key, actors in table.items():
        others = {a: c for a, c in actors.items() if not a.startswith("operator")}
        who = ", ".join(f"{a} {c}" for a, c in sorted(others.items(), key=lambda x: -x[1]))
        ours, failed = actors.get("operator", 0), actors.get("operator_failed", 0)
        lines.append(f"  {key:<40}{ours:>9}{failed:>7}{sum(others.values()):>9}  {who}")
    return lines


def kinds(objs: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Count of objects by kind (the floor's children, for the goal line)."""
    return dict(Counter(str(o["kind"]) for o in objs))
