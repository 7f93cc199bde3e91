"""mlendpoints.io/v1alpha1: the seven kinds and their parts."""

from mlendpoints.api.v1alpha1.base import API_VERSION, GROUP, VERSION, CrdInfo
from mlendpoints.api.v1alpha1.batch import BatchDeployment, BatchEndpoint, BatchJob
from mlendpoints.api.v1alpha1.instancetype import DEFAULT_INSTANCE_TYPE, InstanceType
from mlendpoints.api.v1alpha1.meta import Resource
from mlendpoints.api.v1alpha1.monitor import ModelMonitor
from mlendpoints.api.v1alpha1.online import OnlineDeployment, OnlineEndpoint

#: Every root kind, in the order CRDs are generated and documented.
KINDS: tuple[type[Resource], ...] = (
    OnlineEndpoint,
    OnlineDeployment,
    BatchEndpoint,
    BatchDeployment,
    BatchJob,
    InstanceType,
    ModelMonitor,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_INSTANCE_TYPE",
    "GROUP",
    "KINDS",
    "VERSION",
    "BatchDeployment",
    "BatchEndpoint",
    "BatchJob",
    "CrdInfo",
    "InstanceType",
    "ModelMonitor",
    "OnlineDeployment",
    "OnlineEndpoint",
    "Resource",
]
