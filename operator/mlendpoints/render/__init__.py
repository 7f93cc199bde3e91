"""Pure renderers: typed custom resources in, plain Kubernetes object dicts out.

No kopf, no Kubernetes client, no I/O (import-linter enforces it); the reconciler applies what
these functions return with server-side apply. One module per child kind:

* :mod:`~mlendpoints.render.online`: the entry points, ``deployment_children`` and ``endpoint_children``.
* :mod:`~mlendpoints.render.deployment`, :mod:`~mlendpoints.render.pod`: the scoring Deployment.
* :mod:`~mlendpoints.render.service`, :mod:`~mlendpoints.render.autoscaler`, :mod:`~mlendpoints.render.pdb`.
* :mod:`~mlendpoints.render.secret`, :mod:`~mlendpoints.render.httproute`, :mod:`~mlendpoints.render.ingress`.
* :mod:`~mlendpoints.render.traffic`: Ready gating of the traffic split.
* :mod:`~mlendpoints.render.cli`: ``mlendpoints render -f manifest.yaml``.
"""

from mlendpoints.render.errors import RenderError
from mlendpoints.render.online import (
    DeploymentState,
    EndpointRender,
    deployment_children,
    endpoint_children,
)
from mlendpoints.render.settings import RenderSettings
from mlendpoints.render.traffic import effective_traffic

__all__ = [
    "DeploymentState",
    "EndpointRender",
    "RenderError",
    "RenderSettings",
    "deployment_children",
    "effective_traffic",
    "endpoint_children",
]
