"""OnlineEndpoint and OnlineDeployment: a stable scoring URL with weighted deployments behind it.

Mirrors Azure ML's managed/Kubernetes online endpoints. The cross-field rules exist twice on
purpose: as CEL (the API server rejects bad manifests at ``kubectl apply``) and as pydantic
validators (``mlendpoints render -f`` and the operator reject the same input offline).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from mlendpoints.api.v1alpha1.base import (
    AGE_COLUMN,
    NAME_DNS1035_RULE,
    NAME_PATTERN,
    NAME_RULE,
    READY_COLUMN,
    REASON_COLUMN,
    ApiModel,
    CrdInfo,
    DeletionPolicy,
    Percent,
    PrinterColumn,
    Rule,
    Target,
    immutable,
    rules,
)
from mlendpoints.api.v1alpha1.common import (
    AzureMLSettings,
    StatusBase,
)
from mlendpoints.api.v1alpha1.meta import Resource
from mlendpoints.api.v1alpha1.online_deployment import (
    INSTANCE_TYPE_PATTERN,
    BinaryPayloads,
    DataCollection,
    DataCollections,
    DataCollector,
    OnlineDeployment,
    OnlineDeploymentSpec,
    OnlineDeploymentStatus,
    ProbeSettings,
    RequestSettings,
    RollingRate,
    ScaleSettings,
    ScaleType,
)

#: Azure ML allows at most 20 deployments per endpoint.
MAX_DEPLOYMENTS = 20
MAX_MIRROR_PERCENT = 50
_NAME_RE = re.compile(NAME_PATTERN)


class AuthMode(StrEnum):
    key = "key"
    aml_token = "amlToken"
    aad_token = "aadToken"
    none = "none"


class RoutingType(StrEnum):
    auto = "auto"
    gateway_api = "gatewayAPI"
    ingress = "ingress"
    none = "none"


class ParentRef(ApiModel):
    """A Gateway the HTTPRoute attaches to (Gateway API parentRef)."""

    name: Annotated[str, Field(min_length=1, max_length=253)]
    """Gateway name."""
    namespace: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    """Gateway namespace; defaults to the endpoint's."""
    section_name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """Listener name on the Gateway."""


class Routing(ApiModel):
    """How traffic reaches the deployments."""

    type: RoutingType = RoutingType.auto
    """auto (gatewayAPI when the Gateway API CRDs are installed, else none), gatewayAPI (HTTPRoute with
    weighted backends), ingress (ingress-nginx canary, at most two deployments, no mirroring) or none (Services only)."""
    parent_refs: Annotated[list[ParentRef], Field(max_length=16)] = Field(default_factory=list)
    """Gateways to attach the HTTPRoute to."""
    ingress_class_name: Annotated[str, Field(max_length=253)] | None = None
    """IngressClass for routing type ingress (ingress-nginx canary annotations are used)."""
    host: (
        Annotated[
            str,
            Field(
                max_length=253,
                pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            ),
        ]
        | None
    ) = None
    """Host name the endpoint is served on; also used in scoringUri."""
    tls_secret_name: Annotated[str, Field(max_length=253)] | None = None
    """TLS Secret for the ingress (https scoring URI)."""


TrafficMap = Annotated[
    dict[str, Percent],
    Field(max_length=MAX_DEPLOYMENTS),
]
MirrorMap = Annotated[
    dict[str, Annotated[int, Field(ge=0, le=MAX_MIRROR_PERCENT)]], Field(max_length=MAX_DEPLOYMENTS)
]

_KEY_RULE = f"k.matches('{NAME_PATTERN}') && size(k) <= 32"


class OnlineEndpointSpec(ApiModel):
    """Desired state of an OnlineEndpoint."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            Rule(
                "!has(self.traffic) || self.traffic.all(k, " + _KEY_RULE + ")",
                "traffic keys must be deployment names (3-32 chars, DNS-1035)",
                field_path=".traffic",
            ),
            Rule(
                "!has(self.traffic) || self.traffic.size() == 0 || "
                "self.traffic.map(k, self.traffic[k]).sum() in [0, 100]",
                "traffic percentages must sum to 0 or 100",
                field_path=".traffic",
            ),
            Rule(
                "!has(self.mirrorTraffic) || self.mirrorTraffic.size() <= 1",
                "mirrorTraffic may name at most one deployment",
                field_path=".mirrorTraffic",
            ),
            Rule(
                "!has(self.mirrorTraffic) || self.mirrorTraffic.size() == 0 || "
                f"self.mirrorTraffic.map(k, self.mirrorTraffic[k]).sum() <= {MAX_MIRROR_PERCENT}",
                f"mirrorTraffic may copy at most {MAX_MIRROR_PERCENT} percent of requests",
                field_path=".mirrorTraffic",
            ),
            Rule(
                "!has(self.mirrorTraffic) || !has(self.traffic) || "
                "self.mirrorTraffic.all(k, !(k in self.traffic) || self.traffic[k] == 0)",
                "a deployment cannot receive both live traffic and mirrorTraffic",
                field_path=".mirrorTraffic",
            ),
            Rule(
                "!has(self.mirrorTraffic) || self.mirrorTraffic.all(k, " + _KEY_RULE + ")",
                "mirrorTraffic keys must be deployment names (3-32 chars, DNS-1035)",
                field_path=".mirrorTraffic",
            ),
            Rule(
                "!has(self.target) || self.target != 'azureml' || has(self.azureml)",
                "spec.azureml is required when target is azureml",
                field_path=".azureml",
                reason="FieldValueRequired",
            ),
            Rule(
                "!has(self.target) || !has(self.authMode) || self.target != 'kubernetes' || self.authMode in ['key', 'none']",
                "target kubernetes supports authMode key or none (amlToken and aadToken need Azure ML)",
                field_path=".authMode",
            ),
            Rule(
                "!has(self.routing) || !has(self.routing.type) || self.routing.type != 'ingress' || !has(self.mirrorTraffic) "
                "|| self.mirrorTraffic.size() == 0",
                "routing type ingress cannot mirror traffic (ingress-nginx has no weighted mirror); use gatewayAPI",
                field_path=".mirrorTraffic",
            ),
        )
    )

    target: Annotated[Target, Field(json_schema_extra=immutable("target"))] = Target.kubernetes
    """kubernetes (pods, Services and routes in this cluster) or azureml (an Azure ML managed resource)."""
    auth_mode: AuthMode = AuthMode.key
    """key (primary/secondary keys in a Secret), amlToken, aadToken (Azure ML only) or none."""
    traffic: TrafficMap = Field(default_factory=dict)
    """Percent of live traffic per deployment; values sum to 0 or 100."""
    mirror_traffic: MirrorMap = Field(default_factory=dict)
    """Percent of live traffic copied to one deployment (responses discarded); at most 50."""
    description: Annotated[str, Field(max_length=1024)] | None = None
    """Free text."""
    tags: Annotated[dict[str, Annotated[str, Field(max_length=256)]], Field(max_length=50)] = Field(
        default_factory=dict
    )
    """Tags (copied to Azure ML and to child objects' annotations)."""
    routing: Routing = Field(default_factory=Routing, json_schema_extra={"default": {}})
    """Routing object to create."""
    azureml: AzureMLSettings | None = None
    """Azure ML workspace; required when target is azureml."""
    deletion_policy: DeletionPolicy = DeletionPolicy.Delete
    """Delete or Orphan the Azure ML endpoint when this resource is deleted."""

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        for name in [*self.traffic, *self.mirror_traffic]:
            if not (3 <= len(name) <= 32) or not _NAME_RE.match(name):
                raise ValueError(f"traffic: {name!r} is not a deployment name (3-32 chars, DNS-1035)")
        if self.traffic and sum(self.traffic.values()) not in (0, 100):
            raise ValueError(f"traffic: percentages must sum to 0 or 100 (got {sum(self.traffic.values())})")
        if len(self.mirror_traffic) > 1:
            raise ValueError("mirrorTraffic: may name at most one deployment")
        if sum(self.mirror_traffic.values()) > MAX_MIRROR_PERCENT:
            raise ValueError(f"mirrorTraffic: may copy at most {MAX_MIRROR_PERCENT} percent")
        both = [k for k in self.mirror_traffic if self.traffic.get(k, 0) > 0]
        if both:
            raise ValueError(f"mirrorTraffic: {both[0]!r} cannot receive both live and mirrored traffic")
        if self.target is Target.azureml and self.azureml is None:
            raise ValueError("azureml: required when target is azureml")
        if self.target is Target.kubernetes and self.auth_mode not in (AuthMode.key, AuthMode.none):
            raise ValueError("authMode: target kubernetes supports key or none")
        if self.routing.type is RoutingType.ingress and self.mirror_traffic:
            raise ValueError("mirrorTraffic: routing type ingress cannot mirror traffic")
        return self


class DeploymentSummary(ApiModel):
    """One deployment as the endpoint sees it."""

    name: str
    """Deployment name."""
    ready: bool = False
    """Whether its rollout is complete and all its pods are Ready (its Ready condition)."""
    desired_traffic: int = 0
    """Percent asked for in spec.traffic."""
    effective_traffic: int = 0
    """Percent actually routed to it."""
    mirror_traffic: int = 0
    """Percent mirrored to it."""
    replicas: int = 0
    """Pods."""
    ready_replicas: int = 0
    """Ready pods."""
    available_replicas: int = 0
    """Available pods; a deployment retains its traffic while it has at least one."""


class OnlineEndpointStatus(StatusBase):
    """Observed state of an OnlineEndpoint."""

    scoring_uri: str | None = None
    """URL to POST scoring requests to (…/score, or the primary custom container's scoringRoute.path)."""
    swagger_uri: str | None = None
    """URL of the OpenAPI document (…/swagger.json)."""
    traffic: dict[str, int] = Field(default_factory=dict)
    """Effective traffic: what the route really sends (deployments with no available pod get none)."""
    traffic_summary: str | None = None
    """Effective traffic as text, e.g. blue=90,green=10 (printer column)."""
    mirror_traffic: dict[str, int] = Field(default_factory=dict)
    """Effective mirror traffic."""
    deployments: Annotated[list[DeploymentSummary], Field(max_length=64)] = Field(default_factory=list)
    """Per-deployment summary."""
    keys_secret_name: str | None = None
    """Secret holding primaryKey and secondaryKey (auth mode key)."""
    routing: str | None = None
    """Routing actually used (gatewayAPI, ingress or none)."""
    service_name: str | None = None
    """Stable Service in front of all deployments."""
    provisioning_state: str | None = None
    """Azure ML provisioning state (target azureml)."""
    azure_resource_id: str | None = None
    """Azure ML resource id (target azureml)."""
    applied_spec_hash: str | None = None
    """Hash of the Azure ML endpoint last sent (target azureml): drift is decided from it."""


class OnlineEndpoint(Resource):
    """A stable scoring endpoint with keys and a traffic map over OnlineDeployments."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="OnlineEndpoint",
        plural="onlineendpoints",
        short_names=("oep",),
        columns=(
            READY_COLUMN,
            PrinterColumn("Traffic", ".status.trafficSummary", description="Effective traffic"),
            PrinterColumn("URL", ".status.scoringUri", description="Scoring URI"),
            REASON_COLUMN,
            AGE_COLUMN,
        ),
        name_rules=(NAME_RULE, NAME_DNS1035_RULE),
    )

    kind: Literal["OnlineEndpoint"] = "OnlineEndpoint"
    spec: OnlineEndpointSpec = Field(default_factory=OnlineEndpointSpec, json_schema_extra={"default": {}})
    """Desired state."""
    status: OnlineEndpointStatus | None = None
    """Observed state, written by the operator."""


__all__ = [
    "INSTANCE_TYPE_PATTERN",
    "AuthMode",
    "BinaryPayloads",
    "DataCollection",
    "DataCollections",
    "DataCollector",
    "DeploymentSummary",
    "OnlineDeployment",
    "OnlineDeploymentSpec",
    "OnlineDeploymentStatus",
    "OnlineEndpoint",
    "OnlineEndpointSpec",
    "OnlineEndpointStatus",
    "ParentRef",
    "ProbeSettings",
    "RequestSettings",
    "RollingRate",
    "Routing",
    "RoutingType",
    "ScaleSettings",
    "ScaleType",
]
