"""policy/v1 PodDisruptionBudget: voluntary disruptions (node drains) take one pod at a time.

Rendered only when the deployment runs more than one pod (``instanceCount``, or ``minInstances``
under the HPA): with a single pod a budget could only block drains forever. Fixed scale gets
``minAvailable: instanceCount - 1``; autoscaled deployments get ``maxUnavailable: 1``, which equals
it at the planned count and stays one-at-a-time when the HPA scales above it. ``unhealthyPodEvictionPolicy: AlwaysAllow`` lets drains evict pods that are not Ready
anyway, so a crash-looping deployment cannot wedge node maintenance.
"""

from __future__ import annotations

from mlendpoints.api.v1alpha1.online import OnlineDeployment, ScaleType
from mlendpoints.render import labels, meta, names
from mlendpoints.render.types import Obj


def planned_count(dep: OnlineDeployment) -> int:
    """Pods the deployment runs at least: instanceCount, or minInstances under the HPA."""
    scale = dep.spec.scale_settings
    if scale.type is ScaleType.target_utilization:
        return scale.min_instances
    return dep.spec.instance_count


def build(dep: OnlineDeployment) -> Obj | None:
    """The PDB, or None for a single-pod deployment."""
    if planned_count(dep) <= 1:
        return None
    ep_name, dep_name = dep.spec.endpoint_name, dep.metadata.name
    name = names.deployment_object(ep_name, dep_name)
    std = labels.standard(
        instance=name,
        component=labels.COMPONENT_SCORING,
        endpoint=ep_name,
        deployment=dep_name,
        owner_uid=meta.identity(dep)[2],
    )
    # Fixed scale: minAvailable = instanceCount - 1 (Azure ML's semantics, one pod at a time).
    # Under the HPA the count moves, and minAvailable = minInstances - 1 would let a drain evict
    # all but one pod after a scale-up, so there the budget is "one at a time" directly.
    budget: Obj = (
        {"maxUnavailable": 1}
        if dep.spec.scale_settings.type is ScaleType.target_utilization
        else {"minAvailable": planned_count(dep) - 1}
    )
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta.object_meta(name, owner=dep, labels=std),
        "spec": {
            **budget,
            "selector": {"matchLabels": labels.selector(ep_name, dep_name)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }
