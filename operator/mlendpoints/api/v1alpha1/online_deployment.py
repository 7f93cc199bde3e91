"""OnlineDeployment: a model, its code, environment, compute and scaling behind an OnlineEndpoint.

Split out of ``online.py``, which re-exports every name here (``online.OnlineDeployment`` keeps
working). The cross-field rules exist twice on purpose, as in ``online.py``: as CEL for
``kubectl apply`` and as pydantic validators for ``mlendpoints render -f`` and the operator.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from mlendpoints.api.v1alpha1.base import (
    AGE_COLUMN,
    NAME_DNS1035_RULE,
    NAME_RULE,
    READY_COLUMN,
    REASON_COLUMN,
    ApiModel,
    CrdInfo,
    Name,
    PassThrough,
    PrinterColumn,
    Rule,
    immutable,
    rules,
)
from mlendpoints.api.v1alpha1.common import (
    CodeConfiguration,
    EnvironmentSpec,
    ModelSpec,
    ResourceRequirements,
    StatusBase,
)
from mlendpoints.api.v1alpha1.meta import Resource

#: An InstanceType name (DNS-1035), or an Azure VM size such as Standard_DS3_v2 (target azureml).
INSTANCE_TYPE_PATTERN = r"^[A-Za-z]([-_A-Za-z0-9]*[A-Za-z0-9])?$"


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
    "INSTANCE_TYPE_PATTERN",
    "BinaryPayloads",
    "DataCollection",
    "DataCollections",
    "DataCollector",
    "OnlineDeployment",
    "OnlineDeploymentSpec",
    "OnlineDeploymentStatus",
    "ProbeSettings",
    "RequestSettings",
    "RollingRate",
    "ScaleSettings",
    "ScaleType",
]
