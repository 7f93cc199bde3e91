"""InstanceType: a cluster-scoped compute profile, field-compatible with Azure ML's.

Azure ML's Kubernetes extension defines ``amlarc.azureml.com/v1alpha1 InstanceType`` with
``spec.nodeSelector`` and ``spec.resources``; ours has the same fields (plus tolerations), so its
manifests convert by changing apiVersion only.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, model_validator

from mlendpoints.api.v1alpha1.base import (
    AGE_COLUMN,
    LABEL_VALUE_PATTERN,
    QUALIFIED_NAME_PATTERN,
    READY_COLUMN,
    ApiModel,
    CrdInfo,
    PrinterColumn,
)
from mlendpoints.api.v1alpha1.common import ResourceRequirements, StatusBase, Toleration
from mlendpoints.api.v1alpha1.meta import Resource

#: Name looked up when a deployment names no instanceType and sets no resources.
DEFAULT_INSTANCE_TYPE = "defaultinstancetype"


def resolve_name(instance_type: str | None, resources: object | None) -> str | None:
    """The InstanceType an OnlineDeployment (target kubernetes) uses: the one rule for it.

    Azure ML's rule for Kubernetes online deployments (docs/online-endpoints.md, "Resources"):
    the InstanceType named by ``spec.instanceType``; else, when the deployment sets no
    ``spec.resources``, ``defaultinstancetype``; else none (its resources over the operator's
    default resources). A missing ``defaultinstancetype`` is not an error (the operator's default
    resources apply); a missing *named* InstanceType is (``Stalled/UnknownInstanceType``).
    Used by the renderer, ``mlendpoints render``, the OnlineDeployment reconciler and the
    InstanceType's user count. BatchDeployments use only an InstanceType they name.

    Args:
        instance_type: ``spec.instanceType`` (None or empty when unset).
        resources: ``spec.resources``, typed or as in the body (None when unset).

    Returns:
        The InstanceType's name, or None when the deployment uses none.
    """
    if instance_type:
        return instance_type
    return DEFAULT_INSTANCE_TYPE if resources is None else None


_QUALIFIED = re.compile(QUALIFIED_NAME_PATTERN)


class InstanceTypeSpec(ApiModel):
    """Compute profile applied to scoring and batch pods that name it."""

    node_selector: Annotated[
        dict[str, Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]], Field(max_length=32)
    ] = Field(default_factory=dict)
    """Node labels the pods must match (label keys and values). The API server checks the values; a
    key that is not a label key makes the InstanceType Stalled (a structural schema cannot bound map
    keys, so a CEL rule over them would exceed the API server's cost budget)."""
    tolerations: Annotated[list[Toleration], Field(max_length=32)] = Field(default_factory=list)
    """Taints the pods tolerate (e.g. nvidia.com/gpu on GPU nodes)."""
    resources: ResourceRequirements | None = None
    """Container requests and limits (cpu, memory, nvidia.com/gpu)."""

    @model_validator(mode="after")
    def _label_keys(self) -> Self:
        for key in self.node_selector:
            if len(key) > 316 or not _QUALIFIED.match(key):
                raise ValueError(f"nodeSelector key {key!r} is not a label key")
        return self


class InstanceTypeStatus(StatusBase):
    """Observed state of an InstanceType."""

    users: int = 0
    """Deployments that currently use this InstanceType."""


class InstanceType(Resource):
    """A named compute profile (cluster-scoped), as in Azure ML's Kubernetes compute."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="InstanceType",
        plural="instancetypes",
        short_names=("itype",),
        namespaced=False,
        columns=(
            READY_COLUMN,
            PrinterColumn("CPU", ".spec.resources.limits.cpu"),
            PrinterColumn("Memory", ".spec.resources.limits.memory"),
            PrinterColumn("GPU", ".spec.resources.limits.nvidia\\.com/gpu"),
            AGE_COLUMN,
        ),
    )

    kind: Literal["InstanceType"] = "InstanceType"
    spec: InstanceTypeSpec = Field(default_factory=InstanceTypeSpec, json_schema_extra={"default": {}})
    """Desired state."""
    status: InstanceTypeStatus | None = None
    """Observed state."""
