"""Availability gating of the traffic split: what the route really sends.

KServe's first raw-mode canary sent weight to pods that were not Ready yet and clients saw 503s
(kserve#5983). Here the desired split from ``spec.traffic`` is turned into an *effective* split
that only ever names deployments that can answer ("serving": at least one available pod, the
Deployment's ``status.availableReplicas > 0``); the route, the stable Service and
``status.traffic`` are all built from it, so status never claims a split the route does not do.

Serving, not Ready: a deployment that is rolling out, or Stalled on a new pod that cannot start,
still answers from its old pods and keeps its weight. Gating on the Ready condition sent a
90/10 split to 0/100 for the whole of a routine rollout of the 90% side.

Rules (``docs/online-endpoints.md`` documents them for users):

* Weight of a deployment that is not serving (no available pod, missing, or being deleted) moves
  to the serving deployments that have weight, proportionally to their desired weights.
* Integer percentages keep the desired sum (100) by largest-remainder rounding; ties go to the
  larger desired weight, then to the name in alphabetical order, so the result is deterministic.
* 0% fallback: when *no* deployment with weight is serving, the serving deployments the user listed
  at 0% share the traffic equally -- but never a mirror (shadow) target, and never a deployment
  that is not in the map at all. A 0% deployment gets live traffic only when nothing the user
  weighted can answer; that is how a blue/green cut-over (``blue: 0, green: 100`` applied together
  with a new ``green``) keeps serving from blue until green has an available pod.
* Nothing serving to route to: every weight is 0 (clients get 503 from the route, see
  ``online.endpoint_children``). A desired sum of 0 stays 0.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


def apportion(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split the integer ``total`` over ``weights`` proportionally (largest remainder).

    Args:
        total: What to distribute (a percentage sum, 0-100).
        weights: Non-negative relative weights; keys with 0 get 0.

    Returns:
        A share per key of ``weights`` (same order), summing to ``total`` unless all weights are 0.
    """
    base = sum(weights.values())
    if base <= 0 or total <= 0:
        return dict.fromkeys(weights, 0)
    shares = {k: total * w // base for k, w in weights.items()}
    remainders = {k: total * w % base for k, w in weights.items()}
    left = total - sum(shares.values())
    # Largest remainder first; ties: larger weight, then name. Only keys with weight can win.
    order = sorted((k for k in weights if weights[k] > 0), key=lambda k: (-remainders[k], -weights[k], k))
    for k in order[:left]:
        shares[k] += 1
    return shares


def effective_traffic(
    desired: Mapping[str, int], ready: Collection[str], *, shadows: Collection[str] = ()
) -> dict[str, int]:
    """Desired traffic after availability gating (see the module docstring for the rules).

    Args:
        desired: ``spec.traffic``: percent per deployment, summing to 0 or 100.
        ready: Names of deployments that exist, are not being deleted and have an available pod.
        shadows: Mirror targets, which never receive live traffic through the 0% fallback.

    Returns:
        Percent per key of ``desired``; only serving deployments have weight.
    """
    total = sum(desired.values())
    zeros = dict.fromkeys(desired, 0)
    if total == 0:
        return zeros
    weighted = {k: w for k, w in desired.items() if w > 0 and k in ready}
    if not weighted:
        weighted = {k: 1 for k, w in desired.items() if w == 0 and k in ready and k not in shadows}
    return zeros | apportion(total, weighted)


def limit_backends(weights: Mapping[str, int], limit: int) -> dict[str, int]:
    """Keep at most ``limit`` deployments with weight, moving the rest proportionally to them.

    Routing kinds have a backend limit (a Service selects one deployment, ingress-nginx has one
    canary, an HTTPRoute rule 16 backendRefs). The reported effective traffic must be what the
    route can express, so the split is narrowed here, keeping the largest weights (ties: name).
    """
    keep = sorted((k for k, w in weights.items() if w > 0), key=lambda k: (-weights[k], k))[:limit]
    if len(keep) == sum(1 for w in weights.values() if w > 0):
        return dict(weights)
    return dict.fromkeys(weights, 0) | apportion(sum(weights.values()), {k: weights[k] for k in keep})


def effective_mirror(mirror: Mapping[str, int], ready: Collection[str], *, live: int) -> dict[str, int]:
    """Mirror percentages that are really applied: only to serving targets, only when live traffic flows.

    The mirror copies requests of the default (weighted) rule; with no live traffic there is
    nothing to copy, and copies to a target with no available pod would only fail.
    """
    return {k: (v if k in ready and live > 0 else 0) for k, v in mirror.items()}


def primary(weights: Mapping[str, int]) -> str | None:
    """The deployment with the largest weight (ties: name order), or None when no weight is set."""
    candidates = sorted((k for k, w in weights.items() if w > 0), key=lambda k: (-weights[k], k))
    return candidates[0] if candidates else None


def waiting(desired: Mapping[str, int], mirror: Mapping[str, int], ready: Collection[str]) -> list[str]:
    """Deployments given live or mirror traffic that have no available pod (sorted)."""
    wanted = {k for k, w in desired.items() if w > 0} | {k for k, w in mirror.items() if w > 0}
    return sorted(wanted - set(ready))


def summary(weights: Mapping[str, int]) -> str:
    """``blue=90,green=10`` (for ``status.trafficSummary`` and the render CLI)."""
    return ",".join(f"{k}={v}" for k, v in weights.items())
