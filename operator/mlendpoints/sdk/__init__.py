"""azure-ai-ml's ``MLClient`` for endpoints and deployments, on a Kubernetes cluster with mlendpoints.

    from mlendpoints.sdk import MLClient      # was: from azure.ai.ml import MLClient

Entities stay azure-ai-ml's own (``azure.ai.ml.entities``); they take the path of ``create -f``
(:mod:`mlendpoints.convert`, local folders uploaded, server-side apply). Needs the ``azure`` and
``operator`` extras. Modules:

- :mod:`.client`: :class:`MLClient` and its operation groups;
- :mod:`.online` / :mod:`.batch`: the operation groups;
- :mod:`.workspace`: the cluster session, apply and errors;
- :mod:`.entities`: entity -> Azure YAML document; :mod:`.readback`: resource -> entity;
- :mod:`.poller`: ``LROPoller``-like pollers over kstatus.
"""

from mlendpoints.sdk.client import MLClient
from mlendpoints.sdk.entities import UnsupportedEntity
from mlendpoints.sdk.poller import Poller, StalledError
from mlendpoints.sdk.workspace import MlEndpointsError, MlEndpointsWarning

__all__ = [
    "MLClient",
    "MlEndpointsError",
    "MlEndpointsWarning",
    "Poller",
    "StalledError",
    "UnsupportedEntity",
]
