"""BatchEndpoint, BatchDeployment and BatchJob: score folders of files in mini-batches.

A BatchJob names an endpoint (and optionally a deployment, else the endpoint's default) and
inputs; the operator runs it as a Kubernetes Job (or an Azure ML batch job for target azureml).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from mlendpoints.api.v1alpha1.base import (
    AGE_COLUMN,
    MODEL_URI_PATTERN,
    NAME_DNS1035_RULE,
    NAME_RULE,
    READY_COLUMN,
    REASON_COLUMN,
    ApiModel,
    CrdInfo,
    DeletionPolicy,
    Name,
    PrinterColumn,
    Rule,
    Target,
    immutable,
    rules,
)
from mlendpoints.api.v1alpha1.batch_deployment import (
    CIDR_PATTERN,
    BatchDeployment,
    BatchDeploymentSpec,
    BatchDeploymentStatus,
    BatchEgress,
    BatchSettings,
    EgressCidr,
    EnvMap,
    LoggingLevel,
    OutputAction,
    RetrySettings,
)
from mlendpoints.api.v1alpha1.common import (
    AzureMLSettings,
    SecretRef,
    StatusBase,
)
from mlendpoints.api.v1alpha1.meta import Resource


class BatchDefaults(ApiModel):
    """Endpoint-level defaults."""

    deployment_name: Name | None = None
    """Deployment that jobs use when they name none."""


class BatchEndpointSpec(ApiModel):
    """Desired state of a BatchEndpoint."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            Rule(
                "!has(self.target) || self.target != 'azureml' || has(self.azureml)",
                "spec.azureml is required when target is azureml",
                field_path=".azureml",
                reason="FieldValueRequired",
            )
        )
    )

    target: Annotated[Target, Field(json_schema_extra=immutable("target"))] = Target.kubernetes
    """kubernetes (Jobs in this cluster) or azureml (an Azure ML batch endpoint)."""
    defaults: BatchDefaults = Field(default_factory=BatchDefaults, json_schema_extra={"default": {}})
    """Defaults for jobs."""
    description: Annotated[str, Field(max_length=1024)] | None = None
    """Free text."""
    tags: Annotated[dict[str, Annotated[str, Field(max_length=256)]], Field(max_length=50)] = Field(
        default_factory=dict
    )
    """Tags."""
    azureml: AzureMLSettings | None = None
    """Azure ML workspace; required when target is azureml."""
    deletion_policy: DeletionPolicy = DeletionPolicy.Delete
    """Delete or Orphan the Azure ML endpoint when this resource is deleted."""

    @model_validator(mode="after")
    def _azureml_block(self) -> Self:
        if self.target is Target.azureml and self.azureml is None:
            raise ValueError("azureml: required when target is azureml")
        return self


class BatchEndpointStatus(StatusBase):
    """Observed state of a BatchEndpoint."""

    default_deployment: str | None = None
    """Deployment used by jobs that name none."""
    scoring_uri: str | None = None
    """Azure ML invocation URI (target azureml)."""
    provisioning_state: str | None = None
    """Azure ML provisioning state (target azureml)."""
    applied_spec_hash: str | None = None
    """Hash of the Azure ML resource last sent (target azureml): drift is decided from it."""


class BatchEndpoint(Resource):
    """A batch scoring endpoint: a name and a default deployment for BatchJobs."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="BatchEndpoint",
        plural="batchendpoints",
        short_names=("bep",),
        columns=(
            READY_COLUMN,
            PrinterColumn("Default", ".spec.defaults.deploymentName", description="Default deployment"),
            REASON_COLUMN,
            AGE_COLUMN,
        ),
        name_rules=(NAME_RULE, NAME_DNS1035_RULE),
    )

    kind: Literal["BatchEndpoint"] = "BatchEndpoint"
    spec: BatchEndpointSpec = Field(default_factory=BatchEndpointSpec, json_schema_extra={"default": {}})
    """Desired state."""
    status: BatchEndpointStatus | None = None
    """Observed state."""


class InputType(StrEnum):
    uri_file = "uri_file"
    uri_folder = "uri_folder"


class JobInput(ApiModel):
    """One input of a batch job."""

    type: InputType = InputType.uri_folder
    """uri_folder (every file in it) or uri_file (one file)."""
    path: Annotated[str, Field(min_length=1, max_length=2048, pattern=MODEL_URI_PATTERN)]
    """URI of the data (pvc://<claim>/<path>, s3://, gs://, az://, abfss://, wasbs://; https:// for uri_file)."""
    credentials_secret_ref: SecretRef | None = None
    """Secret whose keys become the batch pods' environment (AZURE_STORAGE_*, AWS_*, ...) for this URI."""


class JobOutput(ApiModel):
    """Where results are written."""

    path: Annotated[str, Field(min_length=1, max_length=2048, pattern=MODEL_URI_PATTERN)]
    """URI of the output folder (pvc://<claim>/<path>, az://, abfss://, wasbs://, s3://, gs://)."""
    credentials_secret_ref: SecretRef | None = None
    """Secret whose keys become the batch pods' environment for writing the output."""


class SettingsOverrides(ApiModel):
    """Per-job overrides of the deployment's settings."""

    mini_batch_size: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    """Files per run() call."""
    instance_count: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Parallel pods."""
    max_concurrency_per_instance: Annotated[int, Field(ge=1, le=1000)] | None = None
    """Parallel run() calls per pod."""
    output_action: OutputAction | None = None
    """appendRow or summaryOnly."""
    output_file_name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^/]+$")] | None = None
    """Output file name."""
    retry_settings: RetrySettings | None = None
    """Retries."""
    error_threshold: Annotated[int, Field(ge=-1)] | None = None
    """Failed items tolerated; -1 ignores all."""
    logging_level: LoggingLevel | None = None
    """Log level."""
    environment_variables: EnvMap | None = None
    """Extra environment variables (merged over the deployment's)."""


class BatchJobSpec(ApiModel):
    """Desired state of a BatchJob: immutable once set (like a Kubernetes Job), except ``suspend``."""

    endpoint_name: Annotated[Name, Field(json_schema_extra=immutable("endpointName"))]
    """BatchEndpoint to run on."""
    deployment_name: Annotated[Name, Field(json_schema_extra=immutable("deploymentName"))] | None = None
    """BatchDeployment to use; defaults to the endpoint's spec.defaults.deploymentName."""
    inputs: Annotated[
        dict[str, JobInput], Field(min_length=1, max_length=16, json_schema_extra=immutable("inputs"))
    ]
    """Named inputs (uri_file or uri_folder)."""
    output: Annotated[JobOutput, Field(json_schema_extra=immutable("output"))] | None = None
    """Output folder; required for target kubernetes."""
    overrides: Annotated[SettingsOverrides, Field(json_schema_extra=immutable("overrides"))] | None = None
    """Overrides of the deployment's settings for this job."""
    suspend: bool = False
    """Cancel: true deletes the job's pods (phase Canceled); finished mini-batches stay recorded in the
    output, so setting it back to false resumes where the job stopped."""


class JobPhase(StrEnum):
    pending = "Pending"
    running = "Running"
    succeeded = "Succeeded"
    failed = "Failed"
    canceled = "Canceled"


class JobProgress(ApiModel):
    """Counters of a batch job."""

    total_mini_batches: int = 0
    """Mini-batches in the job."""
    completed_mini_batches: int = 0
    """Mini-batches done (succeeded or failed after retries)."""
    failed_mini_batches: int = 0
    """Mini-batches that failed after all retries."""
    succeeded_items: int = 0
    """Files scored."""
    failed_items: int = 0
    """Files that failed."""


class BatchJobStatus(StatusBase):
    """Observed state of a BatchJob."""

    phase: JobPhase | None = None
    """Pending, Running, Succeeded, Failed or Canceled."""
    progress: JobProgress | None = None
    """Counters."""
    progress_text: str | None = None
    """Progress as text, e.g. 12/40 (printer column)."""
    output_uri: str | None = None
    """Where the results are."""
    deployment_name: str | None = None
    """Deployment actually used."""
    job_name: str | None = None
    """Kubernetes Job (or Azure ML job) running it."""
    start_time: str | None = None
    """When it started (RFC 3339)."""
    completion_time: str | None = None
    """When it finished (RFC 3339)."""
    studio_url: str | None = None
    """Azure ML studio page of the job (target azureml)."""


class BatchJob(Resource):
    """One run of a batch deployment over a set of inputs."""

    crd: ClassVar[CrdInfo] = CrdInfo(
        kind="BatchJob",
        plural="batchjobs",
        short_names=("bjob",),
        columns=(
            PrinterColumn("Phase", ".status.phase"),
            READY_COLUMN,
            PrinterColumn(
                "Reason", '.status.conditions[?(@.type=="Ready")].reason', description="Why (not) ready"
            ),
            PrinterColumn("Progress", ".status.progressText", description="Mini-batches done/total"),
            PrinterColumn("Endpoint", ".spec.endpointName", priority=1),
            AGE_COLUMN,
        ),
        name_rules=(NAME_RULE, NAME_DNS1035_RULE),
    )

    kind: Literal["BatchJob"] = "BatchJob"
    spec: BatchJobSpec
    """Desired state."""
    status: BatchJobStatus | None = None
    """Observed state."""


__all__ = [
    "CIDR_PATTERN",
    "BatchDefaults",
    "BatchDeployment",
    "BatchDeploymentSpec",
    "BatchDeploymentStatus",
    "BatchEgress",
    "BatchEndpoint",
    "BatchEndpointSpec",
    "BatchEndpointStatus",
    "BatchJob",
    "BatchJobSpec",
    "BatchJobStatus",
    "BatchSettings",
    "EgressCidr",
    "EnvMap",
    "InputType",
    "JobInput",
    "JobOutput",
    "JobPhase",
    "JobProgress",
    "LoggingLevel",
    "OutputAction",
    "RetrySettings",
    "SettingsOverrides",
]
