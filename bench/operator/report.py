"""The operator benchmark's printed table: each number next to its floor and the issue's goal."""

from __future__ import annotations

import statistics
from typing import Any

import audit

#: Goals of issue 16 (docs/performance.md, "Operator"): operator / floor ratio at most these.
LATENCY_GOAL = 1.3
SCALE_GOAL = 1.05
RSS_GOAL_MIB = 300


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def single(
    runs: int, f_children: list[float], f_ready: list[float], o_children: list[float], o_ready: list[float]
) -> dict[str, Any]:
    """p50/p95 of each series, in seconds."""
    out: dict[str, Any] = {"runs": runs}
    for name, values in (
        ("floor_children", f_children),
        ("floor_ready", f_ready),
        ("operator_children", o_children),
        ("operator_ready", o_ready),
    ):
        out[f"{name}_p50"] = statistics.median(values)
        out[f"{name}_p95"] = pct(values, 0.95)
    return out


def _row(label: str, a: float, b: float, goal: float | None, fmt: str = ".3f") -> str:
    ratio = a / b if b else float("nan")
    mark = "" if goal is None else ("  ok" if ratio <= goal else f"  > goal {goal}")
    return f"{label:<46}{a:>11{fmt}}{b:>11{fmt}}{ratio:>8.2f}{mark}"


def lines(result: dict[str, Any], *, objects_per_endpoint: int) -> list[str]:
    """The table printed at the end of a run (timings, writes by verb/resource/client, RSS, idle)."""
    m = result["machine"]
    out = [
        "",
        f"load average start {m['loadavg_start'][0]:.1f}, end {m['loadavg_end'][0]:.1f} "
        f"({m['cpus']} CPUs); run took {m['wall_s'] / 60:.1f} min",
        f"{'metric':<46}{'operator':>11}{'floor':>11}{'ratio':>8}",
    ]
    s = result["single"]
    for what, key, goal in (("children created", "children", None), ("Ready", "ready", LATENCY_GOAL)):
        for q in ("p50", "p95"):
            out.append(
                _row(
                    f"apply -> {what}, {q} (s)",
                    s[f"operator_{key}_{q}"],
                    s[f"floor_{key}_{q}"],
                    goal if q == "p95" else None,
                )
            )
    if "scale" in result:
        out += _scale(result["scale"], result["floor_children_per_endpoint"], objects_per_endpoint)
    idle = result["idle"]
    out.append(
        f"idle API requests/s (all clients): without operator {idle['api_requests_per_s_without_operator']:.2f}, "
        f"with {idle['api_requests_per_s_with_operator']:.2f}; operator writes while idle: {idle['operator_writes']}"
    )
    rss = result["operator_rss_mib"]
    out.append(f"operator RSS: start {rss['start']:.0f} MiB, after single runs {rss['after_single']:.0f} MiB")
    return out


def _scale(sc: dict[str, Any], children: dict[str, int], objects_per_endpoint: int) -> list[str]:
    n = sc["endpoints"]
    out = [
        _row(
            f"{n} endpoints x 2 deployments -> all Ready (s)",
            sc["all_ready_s"],
            sc["floor_all_ready_s"],
            SCALE_GOAL,
            ".1f",
        ),
        f"operator peak RSS at {n} endpoints: {sc['peak_rss_mib']:.0f} MiB (goal <= {RSS_GOAL_MIB}); "
        f"operator CPU during the scale run: {sc['operator_cpu_s']:.0f} s; reconciles until all Ready: "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted((sc.get("reconciles") or {}).items())),
        f"operator restart over {n} endpoints: writes {sc['restart']['writes']} (goal 0), "
        f"settled in {sc['restart']['settle_s']:.0f} s, RSS {sc['restart']['rss_mib']:.0f} MiB",
        "",
        "API writes during the scale run, by verb and resource (operator vs other clients):",
        *audit.format_table(sc["breakdown"]),
        "",
        "operator writes per endpoint (1 OnlineEndpoint + 2 OnlineDeployments); floor children per endpoint: "
        + ", ".join(f"{k} {v}" for k, v in sorted(children.items())),
        f"  {'':<46}{'measured':>11}{'goal':>11}",
    ]
    for label, measured, goal in audit.goal_lines(
        sc["operator_totals"],
        endpoints=n,
        children_per_endpoint=sum(children.values()),
        objects_per_endpoint=objects_per_endpoint,
    ):
        verdict = "" if goal != goal else ("  ok" if measured <= goal else "  > goal")
        out.append(f"  {label:<46}{measured:>11.2f}{goal:>11.0f}{verdict}")
    return out
