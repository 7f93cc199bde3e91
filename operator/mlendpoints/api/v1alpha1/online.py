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
    Name,
    PassThrough,
    Percent,
    PrinterColumn,
    Rule,
    Target,
    immutable,
    rules,
)
from mlendpoints.api.v1alpha1.common import (
    AzureMLSettings,
    CodeConfiguration,
    EnvironmentSpec,
    ModelSpec,
    ResourceRequirements,
    StatusBase,
)
from mlendpoints.api.v1alpha1.meta import Resource

#: Azure ML allows at most 20 deployments per endpoint.
MAX_DEPLOYMENTS = 20
MAX_MIRROR_PERCENT = 50
_NAME_RE = re.compile(NAME_PATTERN)
#: An InstanceType name (DNS-1035), or an Azure VM size such as Standard_DS3_v2 (target azureml).
INSTANCE_TYPE_PATTERN = r"^[A-Za-z]([-_A-Za-z0-9]*[A-Za-z0-9])?$"


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


class ScaleType(StrEnum):
    default = "default"
    target_utilization = "targetUtilization"


class ScaleSettings(ApiModel):
    """Scaling: fixed instanceCount (default) or a CPU-utilization autoscaler (targetUtilization)."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            Rule(
                "!has(self.minInstances) || !has(self.maxInstances) || self.minInstances <= self.maxInstances",
                "scaleSettings.minInstances must be <= scaleSettings.maxInstances",
                field_path=".minInstances",
            ),
            Rule(
                "!has(self.behavior) || has(self.type) && self.type == 'targetUtilization'",
                "scaleSettings.behavior applies only to type targetUtilization",
                field_path=".behavior",
            ),
        )
    )

    type: ScaleType = ScaleType.default
    """default (replicas = instanceCount; kubectl scale and external autoscalers work) or targetUtilization (HPA)."""
    min_instances: Annotated[int, Field(ge=0, le=1000)] = 1
    """Lowest replica count for targetUtilization."""
    max_instances: Annotated[int, Field(ge=1, le=1000)] = 1
    """Highest replica count for targetUtilization."""
    target_utilization_percentage: Annotated[int, Field(ge=1, le=100)] = 70
    """Average CPU utilization the autoscaler aims for."""
    polling_interval: Annotated[int, Field(ge=1, le=3600)] = 1
    """Seconds between scaling decisions; mapped to the HPA's scale-up/down policy periods."""
    behavior: PassThrough | None = None
    """HorizontalPodAutoscaler spec.behavior (autoscaling/v2), passed through as written."""

    @model_validator(mode="after")
    def _min_le_max(self) -> Self:
        if self.min_instances > self.max_instances:
            raise ValueError("scaleSettings: minInstances must be <= maxInstances")
        if self.behavior is not None and self.type is not ScaleType.target_utilization:
            raise ValueError("scaleSettings: behavior applies only to type targetUtilization")
        return self


class RequestSettings(ApiModel):
    """Per-instance request limits enforced by the scoring runtime (Azure ML semantics)."""

    request_timeout_ms: Annotated[int, Field(ge=1, le=300_000)] = 5000
    """Scoring time limit; slower requests get 408."""
    max_concurrent_requests_per_instance: Annotated[int, Field(ge=1, le=1000)] = 1
    """run() calls in flight per pod; more requests wait in a queue."""
    max_queue_wait_ms: Annotated[int, Field(ge=0, le=300_000)] = 500
    """Longest wait in the queue; longer waits get 503 with Retry-After."""


class ProbeSettings(ApiModel):
    """A liveness or readiness probe."""

    initial_delay: Annotated[int, Field(ge=0, le=3600)] = 10
    """Seconds before the first probe."""
    period: Annotated[int, Field(ge=1, le=3600)] = 10
    """Seconds between probes."""
    timeout: Annotated[int, Field(ge=1, le=3600)] = 2
    """Seconds before a probe times out."""
    success_threshold: Annotated[int, Field(ge=1, le=100)] = 1
    """Consecutive successes to count as passing (must be 1 for liveness)."""
    failure_threshold: Annotated[int, Field(ge=1, le=1000)] = 30
    """Consecutive failures to count as failing."""


class DataCollection(ApiModel):
    """One payload collection (Azure ML: ``collections.<name>.enabled``)."""

    enabled: bool = True
    """Collect it."""


class DataCollections(ApiModel):
    """Which payloads are collected (Azure ML's reserved collections for payload logging)."""

    model_inputs: DataCollection = Field(default_factory=DataCollection)
    """Request bodies (tabular bodies are stored column-wise)."""
    model_outputs: DataCollection = Field(default_factory=DataCollection)
    """Response bodies."""


class RollingRate(StrEnum):
    """How often the runtime starts a new payload file."""

    minute = "minute"
    hour = "hour"
    day = "day"


class BinaryPayloads(StrEnum):
    """What happens to bodies that are not JSON."""

    reference = "reference"
    skip = "skip"


class DataCollector(ApiModel):
    """Payload logging of scoring requests and responses (see docs/monitoring.md for the files)."""

    enabled: bool = False
    """Log request/response payloads."""
    sampling_rate: Annotated[float, Field(ge=0, le=1)] = 1.0
    """Fraction of requests logged."""
    destination: Annotated[str, Field(max_length=2048)] | None = None
    """URI the logs are written to (s3://, gs://, az://, abfss://, pvc://); unset logs to stdout."""
    collections: DataCollections = Field(default_factory=DataCollections)
    """Which payloads are collected."""
    rolling_rate: RollingRate = RollingRate.minute
    """A new file at least this often (files are also partitioned by hour)."""
    binary_payloads: BinaryPayloads = BinaryPayloads.reference
    """Non-JSON bodies: written to a side file and referenced from the record, or skipped."""


class OnlineDeploymentSpec(ApiModel):
    """Desired state of an OnlineDeployment."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            Rule(
                "has(self.model) || has(self.environment) && has(self.environment.inferenceConfig)",
                "model is required unless environment.inferenceConfig describes a custom container",
                field_path=".model",
                reason="FieldValueRequired",
            ),
            Rule(
                "!has(self.model) || has(self.model.type) && self.model.type != 'custom' || has(self.codeConfiguration) || "
                "has(self.environment) && has(self.environment.inferenceConfig)",
                "a custom model needs codeConfiguration (a scoring script) or a custom container",
                field_path=".codeConfiguration",
                reason="FieldValueRequired",
            ),
            Rule(
                "!has(self.livenessProbe) || !has(self.livenessProbe.successThreshold) || self.livenessProbe.successThreshold == 1",
                "livenessProbe.successThreshold must be 1",
                field_path=".livenessProbe.successThreshold",
            ),
        )
    )

    endpoint_name: Annotated[Name, Field(json_schema_extra=immutable("endpointName"))]
    """The OnlineEndpoint this deployment serves behind (immutable)."""
    model: ModelSpec | None = None
    """The model to serve."""
    code_configuration: CodeConfiguration | None = None
    """Scoring code; not needed for mlflow models."""
    environment: EnvironmentSpec = Field(default_factory=EnvironmentSpec, json_schema_extra={"default": {}})
    """Image and dependencies."""
    instance_type: (
        Annotated[str, Field(min_length=1, max_length=253, pattern=INSTANCE_TYPE_PATTERN)] | None
    ) = None
    """InstanceType (cluster-scoped compute profile) giving resources, nodeSelector and tolerations; for
    target azureml, the Azure VM size (e.g. Standard_DS3_v2) or the attached compute's instance type."""
    instance_count: Annotated[int, Field(ge=0, le=1000)] = 1
    """Replicas for scale type default; the scale subresource (kubectl scale) writes this field."""
    resources: ResourceRequirements | None = None
    """Container requests and limits; override the InstanceType's."""
    scale_settings: ScaleSettings = Field(default_factory=ScaleSettings, json_schema_extra={"default": {}})
    """Scaling."""
    request_settings: RequestSettings = Field(
        default_factory=RequestSettings, json_schema_extra={"default": {}}
    )
    """Request limits per instance."""
    liveness_probe: ProbeSettings = Field(default_factory=ProbeSettings, json_schema_extra={"default": {}})
    """Liveness probe."""
    readiness_probe: ProbeSettings = Field(default_factory=ProbeSettings, json_schema_extra={"default": {}})
    """Readiness probe."""
    environment_variables: Annotated[
        dict[str, Annotated[str, Field(max_length=32768)]], Field(max_length=256)
    ] = Field(default_factory=dict)
    """Environment variables for the scoring container."""
    app_insights_enabled: bool = False
    """Send request telemetry to Application Insights (target azureml)."""
    data_collector: DataCollector | None = None
    """Payload logging."""
    model_mount_path: Annotated[str, Field(max_length=1024, pattern=r"^/")] = (
        "/var/azureml-app/azureml-models"
    )
    """Where the model is mounted in the container (AZUREML_MODEL_DIR)."""
    description: Annotated[str, Field(max_length=1024)] | None = None
    """Free text."""
    tags: Annotated[dict[str, Annotated[str, Field(max_length=256)]], Field(max_length=50)] = Field(
        default_factory=dict
    )
    """Tags."""

    @model_validator(mode="after")
    def _cross_field(self) -> Self:
        custom_container = self.environment.inference_config is not None
        if self.model is None and not custom_container:
            raise ValueError(
                "model: required unless environment.inferenceConfig describes a custom container"
            )
        if (
            self.model is not None
            and self.model.type == "custom"
            and self.code_configuration is None
            and not custom_container
        ):
            raise ValueError("codeConfiguration: a custom model needs a scoring script or a custom container")
        if self.liveness_probe.success_threshold != 1:
            raise ValueError("livenessProbe.successThreshold: must be 1")
        return self


class OnlineDeploymentStatus(StatusBase):
    """Observed state of an OnlineDeployment."""

    replicas: int = 0
    """Pods that exist (scale subresource)."""
    ready_replicas: int = 0
    """Pods that are Ready."""
    updated_replicas: int = 0
    """Pods running the current template."""
    available_replicas: int = 0
    """Pods available to serve (the Deployment's availableReplicas); traffic follows this."""
    selector: str | None = None
    """Label selector of the pods (scale subresource, for HPA/KEDA targeting this resource)."""
    provisioning_state: str | None = None
    """Azure ML provisioning state (target azureml)."""
    applied_spec_hash: str | None = None
    """Hash of the Azure ML deployment last sent (target azureml): drift is decided from it."""


class OnlineDeployment(Resource):
    """A model, its code, environment, compute and scaling, serving behind an OnlineEndpoint."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="OnlineDeployment",
        plural="onlinedeployments",
        short_names=("odep",),
        columns=(
            PrinterColumn("Endpoint", ".spec.endpointName"),
            READY_COLUMN,
            PrinterColumn("Replicas", ".status.readyReplicas", type="integer", description="Ready replicas"),
            PrinterColumn("Desired", ".spec.instanceCount", type="integer", priority=1),
            PrinterColumn("Model", ".spec.model.path"),
            REASON_COLUMN,
            AGE_COLUMN,
        ),
        scale={
            "specReplicasPath": ".spec.instanceCount",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
        name_rules=(NAME_RULE, NAME_DNS1035_RULE),
    )

    kind: Literal["OnlineDeployment"] = "OnlineDeployment"
    spec: OnlineDeploymentSpec
    """Desired state."""
    status: OnlineDeploymentStatus | None = None
    """Observed state, written by the operator."""


__all__ = [
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
