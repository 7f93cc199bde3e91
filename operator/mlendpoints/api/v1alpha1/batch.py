"""BatchEndpoint, BatchDeployment and BatchJob: score folders of files in mini-batches.

A BatchJob names an endpoint (and optionally a deployment, else the endpoint's default) and
inputs; the operator runs it as a Kubernetes Job (or an Azure ML batch job for target azureml).
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

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
from mlendpoints.api.v1alpha1.common import (
    AzureMLSettings,
    CodeConfiguration,
    EnvironmentSpec,
    ModelSpec,
    ResourceRequirements,
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
