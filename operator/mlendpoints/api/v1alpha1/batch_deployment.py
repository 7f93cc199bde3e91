"""BatchDeployment: a model and its mini-batch settings for the BatchJobs of a BatchEndpoint.

Split out of ``batch.py``, which re-exports every name here (``batch.BatchDeployment`` keeps
working); the BatchJob models there reuse the settings defined here for their overrides.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from mlendpoints.api.v1alpha1.base import (
    AGE_COLUMN,
    NAME_DNS1035_RULE,
    NAME_RULE,
    READY_COLUMN,
    REASON_COLUMN,
    ApiModel,
    CrdInfo,
    Name,
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


class OutputAction(StrEnum):
    append_row = "appendRow"
    summary_only = "summaryOnly"


class LoggingLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class RetrySettings(ApiModel):
    """Retries of a failed mini-batch."""

    max_retries: Annotated[int, Field(ge=0, le=100)] = 3
    """Attempts after the first failure."""
    timeout: Annotated[int, Field(ge=1, le=86_400)] = 30
    """Seconds one mini-batch may take before it counts as failed."""


EnvMap = Annotated[dict[str, Annotated[str, Field(max_length=32768)]], Field(max_length=256)]


class BatchSettings(ApiModel):
    """How a BatchDeployment processes inputs (Azure ML's batch deployment settings)."""

    mini_batch_size: Annotated[int, Field(ge=1, le=1_000_000)]
    """Files per run() call."""
    instance_count: Annotated[int, Field(ge=1, le=1000)] = 1
    """Parallel pods (Job parallelism)."""
    max_concurrency_per_instance: Annotated[int, Field(ge=1, le=1000)] = 1
    """Parallel run() calls per pod."""
    output_action: OutputAction = OutputAction.append_row
    """appendRow (collect every run() result row into outputFileName) or summaryOnly."""
    output_file_name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^/]+$")] = (
        "predictions.csv"
    )
    """Name of the output file for appendRow."""
    retry_settings: RetrySettings = Field(default_factory=RetrySettings, json_schema_extra={"default": {}})
    """Mini-batch retries."""
    error_threshold: Annotated[int, Field(ge=-1)] = -1
    """Failed items tolerated before the job fails; -1 ignores all failures."""
    logging_level: LoggingLevel = LoggingLevel.info
    """Log level of the batch runner."""
    environment_variables: EnvMap = Field(default_factory=dict)
    """Environment variables for the batch pods."""


CIDR_PATTERN = r"^([0-9]{1,3}\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$|^[0-9a-fA-F:.]+/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$"


class EgressCidr(ApiModel):
    """One destination batch pods may connect to: an IP block and its TCP ports."""

    cidr: Annotated[str, Field(min_length=4, max_length=43, pattern=CIDR_PATTERN)]
    """IPv4 or IPv6 block in CIDR notation, e.g. 203.0.113.0/24 (the storage endpoint's addresses)."""
    ports: Annotated[list[Annotated[int, Field(ge=1, le=65535)]], Field(min_length=1, max_length=16)] = Field(
        default_factory=lambda: [443], json_schema_extra={"default": [443]}
    )
    """TCP ports allowed to that block."""

    @field_validator("cidr")
    @classmethod
    def _network(cls, value: str) -> str:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"not a network address in CIDR notation ({exc})") from exc
        return value


class BatchEgress(ApiModel):
    """Restrict where the batch pods may connect (a NetworkPolicy; enforced only where the CNI does)."""

    enabled: bool = False
    """When true, each BatchJob's pods may connect only to the cluster DNS and to the cidrs below."""
    cidrs: Annotated[list[EgressCidr], Field(max_length=32)] = Field(default_factory=list)
    """Allowed destinations (e.g. the object store of the inputs and output); empty: DNS only."""


class BatchDeploymentSpec(ApiModel):
    """Desired state of a BatchDeployment."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            Rule(
                "has(self.model.type) && self.model.type != 'custom' || has(self.codeConfiguration)",
                "a custom model needs codeConfiguration (a scoring script with init() and run(mini_batch))",
                field_path=".codeConfiguration",
                reason="FieldValueRequired",
            )
        )
    )

    endpoint_name: Annotated[Name, Field(json_schema_extra=immutable("endpointName"))]
    """The BatchEndpoint this deployment belongs to (immutable)."""
    model: ModelSpec
    """The model to score with."""
    code_configuration: CodeConfiguration | None = None
    """Scoring code; not needed for mlflow models."""
    environment: EnvironmentSpec = Field(default_factory=EnvironmentSpec, json_schema_extra={"default": {}})
    """Image and dependencies."""
    compute: Annotated[str, Field(min_length=2, max_length=255)] | None = None
    """Azure ML compute cluster (target azureml)."""
    instance_type: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """InstanceType giving resources, nodeSelector and tolerations."""
    resources: ResourceRequirements | None = None
    """Container requests and limits; override the InstanceType's."""
    settings: BatchSettings
    """Mini-batch processing settings."""
    egress: BatchEgress | None = None
    """Opt-in egress NetworkPolicy for the jobs' pods (target kubernetes); unset: no restriction."""
    description: Annotated[str, Field(max_length=1024)] | None = None
    """Free text."""
    tags: Annotated[dict[str, Annotated[str, Field(max_length=256)]], Field(max_length=50)] = Field(
        default_factory=dict
    )
    """Tags."""

    @model_validator(mode="after")
    def _code_for_custom(self) -> Self:
        if self.model.type == "custom" and self.code_configuration is None:
            raise ValueError("codeConfiguration: a custom model needs a scoring script")
        return self


class BatchDeploymentStatus(StatusBase):
    """Observed state of a BatchDeployment."""

    provisioning_state: str | None = None
    """Azure ML provisioning state (target azureml)."""
    applied_spec_hash: str | None = None
    """Hash of the Azure ML resource last sent (target azureml): drift is decided from it."""


class BatchDeployment(Resource):
    """A model and its settings for scoring BatchJobs of a BatchEndpoint."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="BatchDeployment",
        plural="batchdeployments",
        short_names=("bdep",),
        columns=(
            PrinterColumn("Endpoint", ".spec.endpointName"),
            READY_COLUMN,
            PrinterColumn("Model", ".spec.model.path"),
            REASON_COLUMN,
            AGE_COLUMN,
        ),
        name_rules=(NAME_RULE, NAME_DNS1035_RULE),
    )

    kind: Literal["BatchDeployment"] = "BatchDeployment"
    spec: BatchDeploymentSpec
    """Desired state."""
    status: BatchDeploymentStatus | None = None
    """Observed state."""


__all__ = [
    "CIDR_PATTERN",
    "BatchDeployment",
    "BatchDeploymentSpec",
    "BatchDeploymentStatus",
    "BatchEgress",
    "BatchSettings",
    "EgressCidr",
    "EnvMap",
    "LoggingLevel",
    "OutputAction",
    "RetrySettings",
]
