"""autoscaling/v2 HorizontalPodAutoscaler for scale type ``targetUtilization``.

``scaleSettings.behavior`` is passed through exactly as written (KServe dropped it: kserve#6246).
Without it, a behavior is derived from ``pollingInterval`` -- Azure ML's "how often to evaluate"
-- as the HPA's own default policies with ``periodSeconds = pollingInterval`` (capped at the
API's 1800 s): scale up by at most 100 % or 4 pods per period, scale down by at most 100 % per
period after a 300 s stabilization window.
"""

from __future__ import annotations

import copy

from mlendpoints.api.v1alpha1.online import OnlineDeployment
from mlendpoints.render import labels, meta, names
from mlendpoints.render.errors import RenderError
from mlendpoints.render.types import Obj

#: HPAScalingPolicy.periodSeconds maximum.
MAX_PERIOD = 1800


def derived_behavior(polling_interval: int) -> Obj:
    period = min(polling_interval, MAX_PERIOD)
    return {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": period},
                {"type": "Pods", "value": 4, "periodSeconds": period},
            ],
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 300,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": period}],
        },
    }


def build(dep: OnlineDeployment) -> Obj:
    """The HPA targeting the deployment's Deployment on average CPU utilization.

    Raises:
        RenderError: ``minInstances`` is 0 (the HPA needs the alpha HPAScaleToZero gate for that).
    """
    scale = dep.spec.scale_settings
    if scale.min_instances < 1:
        raise RenderError(
            "scaleSettings.minInstances: must be at least 1 with targetUtilization "
            "(a HorizontalPodAutoscaler cannot scale to zero)"
        )
    ep_name, dep_name = dep.spec.endpoint_name, dep.metadata.name
    name = names.deployment_object(ep_name, dep_name)
    std = labels.standard(
        instance=name,
        component=labels.COMPONENT_SCORING,
        endpoint=ep_name,
        deployment=dep_name,
        owner_uid=meta.identity(dep)[2],
    )
    behavior = (
        copy.deepcopy(scale.behavior)
        if scale.behavior is not None
        else derived_behavior(scale.polling_interval)
    )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta.object_meta(name, owner=dep, labels=std),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": scale.min_instances,
            "maxReplicas": scale.max_instances,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scale.target_utilization_percentage,
                        },
                    },
                }
            ],
            "behavior": behavior,
        },
    }
