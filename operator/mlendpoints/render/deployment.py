"""The apps/v1 Deployment that runs a deployment's scoring pods.

Rolls with ``maxUnavailable: 0`` so serving capacity never drops during an update (new pods must
pass readiness before old ones go). Under scale type ``targetUtilization`` the ``replicas`` field
is left out entirely: the HPA owns it, and a value applied by the operator would fight the HPA on
every reconcile under server-side apply.
"""

from __future__ import annotations

from mlendpoints.api.v1alpha1.instancetype import InstanceTypeSpec
from mlendpoints.api.v1alpha1.online import OnlineDeployment, OnlineEndpoint, ScaleType
from mlendpoints.render import labels, meta, names, pod
from mlendpoints.render.settings import RenderSettings
from mlendpoints.render.types import Obj

#: Deployment annotation listing spec.environmentVariables dropped for clashing with the runtime contract.
IGNORED_ENV_ANNOTATION = "mlendpoints.io/ignored-environment-variables"
#: Surge during rollouts; 25% rounds up, so at least one extra pod.
MAX_SURGE = "25%"


def _progress_deadline(dep: OnlineDeployment) -> int:
    """Ten minutes for image pull and model download, plus the time readiness may take to pass."""
    probe = dep.spec.readiness_probe
    return 600 + probe.initial_delay + probe.period * probe.failure_threshold


def build(
    dep: OnlineDeployment,
    *,
    endpoint: OnlineEndpoint,
    compute: InstanceTypeSpec | None,
    code_hash: str | None,
    settings: RenderSettings,
) -> Obj:
    """The Deployment object.

    Raises:
        RenderError: see :func:`mlendpoints.render.pod.pod_template`.
    """
    ep_name, dep_name = dep.spec.endpoint_name, dep.metadata.name
    name = names.deployment_object(ep_name, dep_name)
    owner_uid = meta.identity(dep)[2]
    std = labels.standard(
        instance=name,
        component=labels.COMPONENT_SCORING,
        endpoint=ep_name,
        deployment=dep_name,
        owner_uid=owner_uid,
    )
    selector = labels.selector(ep_name, dep_name)
    template, ignored = pod.pod_template(
        dep,
        endpoint=endpoint,
        compute=compute,
        code_hash=code_hash,
        settings=settings,
        pod_labels=std,
        selector=selector,
    )
    annotations = {IGNORED_ENV_ANNOTATION: ",".join(ignored)} if ignored else None
    spec: Obj = {}
    if dep.spec.scale_settings.type is ScaleType.default:
        spec["replicas"] = dep.spec.instance_count
    spec |= {
        "selector": {"matchLabels": selector},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": MAX_SURGE}},
        "progressDeadlineSeconds": _progress_deadline(dep),
        "template": template,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta.object_meta(name, owner=dep, labels=std, annotations=annotations),
        "spec": spec,
    }
