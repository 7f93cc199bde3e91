"""Types shared by several kinds: status and conditions, model/code/environment, compute, Azure ML.

Defaults are Azure ML's service defaults (see docs/api.md) so a manifest written for Azure ML
behaves the same here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from mlendpoints.api.v1alpha1.base import (
    MODEL_URI_PATTERN,
    ApiModel,
    Quantity,
    Rule,
    rules,
)


class ConditionStatus(StrEnum):
    true = "True"
    false = "False"
    unknown = "Unknown"


class Condition(ApiModel):
    """A metav1.Condition: the state of one aspect of the resource."""

    type: Annotated[
        str,
        Field(
            max_length=316,
            pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        ),
    ]
    """Condition type: Ready, Reconciling or Stalled (kstatus conventions)."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[
        str, Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    ]
    """Machine-readable CamelCase reason for the last transition."""
    message: Annotated[str, Field(max_length=32768)] = ""
    """Human-readable details."""
    last_transition_time: datetime
    """When the status last changed."""
    observed_generation: Annotated[int | None, Field(ge=0)] = None
    """The metadata.generation this condition was computed for."""


class StatusBase(ApiModel):
    """Fields every kind reports."""

    observed_generation: Annotated[int | None, Field(ge=0)] = None
    """The metadata.generation the operator last acted on; equal to metadata.generation when current."""
    conditions: Annotated[
        list[Condition],
        Field(
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
                "maxItems": 16,
            }
        ),
    ] = Field(default_factory=list)
    """Ready, Reconciling and Stalled conditions (kstatus), read by kubectl wait, Flux, Argo CD and Helm."""


class ModelType(StrEnum):
    custom = "custom"
    mlflow = "mlflow"
    triton = "triton"


class SecretRef(ApiModel):
    """A Secret in the resource's namespace."""

    name: Annotated[str, Field(min_length=1, max_length=253)]
    """Name of the Secret."""


class ConfigMapRef(ApiModel):
    """A ConfigMap in the resource's namespace."""

    name: Annotated[str, Field(min_length=1, max_length=253)]
    """Name of the ConfigMap."""


class ModelSpec(ApiModel):
    """Where the model comes from and how it is served."""

    path: Annotated[str, Field(max_length=2048, pattern=MODEL_URI_PATTERN)]
    """Model reference: azureml:<name>:<version> (Azure ML target), or a URI: pvc://<claim>/<path>, https://,
    s3://, gs://, az://, abfss://, wasbs:// (downloaded by the storage initializer), oci:// (image volume)."""
    type: ModelType = ModelType.custom
    """custom (a scoring script serves it), mlflow (served without a script) or triton."""
    credentials_secret_ref: SecretRef | None = None
    """Secret with storage credentials for the download (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_*)."""


class CodeConfiguration(ApiModel):
    """The scoring code: a folder (from a URI or a ConfigMap) and the entry script in it."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            Rule(
                "(has(self.code) ? 1 : 0) + (has(self.configMap) ? 1 : 0) == 1",
                "exactly one of codeConfiguration.code and codeConfiguration.configMap must be set",
                reason="FieldValueInvalid",
            )
        )
    )

    code: Annotated[str, Field(max_length=2048, pattern=MODEL_URI_PATTERN)] | None = None
    """URI of the code folder (same schemes as the model path)."""
    config_map: ConfigMapRef | None = None
    """ConfigMap whose keys are the files of the code folder."""
    scoring_script: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^/].*\.py$")]
    """Entry script (relative to the code folder) with init() and run(raw_data)."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.code is None) == (self.config_map is None):
            raise ValueError("codeConfiguration: exactly one of code and configMap must be set")
        return self


class Route(ApiModel):
    """An HTTP route of a custom container."""

    port: Annotated[int, Field(ge=1, le=65535)]
    """Container port."""
    path: Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^/")]
    """HTTP path, starting with /."""


class InferenceConfig(ApiModel):
    """Routes of a custom inference container (Azure ML's inference_config)."""

    liveness_route: Route
    """Probed for liveness."""
    readiness_route: Route
    """Probed for readiness."""
    scoring_route: Route
    """Where scoring requests are sent."""


class EnvironmentSpec(ApiModel):
    """The container environment the model runs in."""

    image: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    """Container image; defaults to the operator's scoring runtime image."""
    conda_file: Annotated[str, Field(max_length=65536)] | None = None
    """conda.yaml content; its pip dependencies are installed at pod start (prefer baking them into the image)."""
    pip_requirements: Annotated[list[Annotated[str, Field(max_length=512)]], Field(max_length=256)] | None = (
        None
    )
    """Extra pip requirements installed at pod start."""
    inference_config: InferenceConfig | None = None
    """Routes of a custom container; when set the image is run as is, without the scoring runtime."""


ResourceMap = Annotated[dict[str, Quantity], Field(max_length=16)]


class ResourceSettings(ApiModel):
    """Resource amounts (cpu, memory, nvidia.com/gpu)."""

    cpu: Quantity | None = None
    """CPU, e.g. 500m or 2."""
    memory: Quantity | None = None
    """Memory, e.g. 1Gi."""
    gpu: Quantity | None = Field(default=None, alias="nvidia.com/gpu")
    """NVIDIA GPUs."""


class ResourceRequirements(ApiModel):
    """Container requests and limits."""

    requests: ResourceSettings | None = None
    """Guaranteed resources."""
    limits: ResourceSettings | None = None
    """Maximum resources."""


class Toleration(ApiModel):
    """A core/v1 Toleration."""

    key: Annotated[str, Field(max_length=316)] | None = None
    """Taint key."""
    operator: Literal["Exists", "Equal"] | None = None
    """Exists or Equal (default Equal)."""
    value: Annotated[str, Field(max_length=63)] | None = None
    """Taint value."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """Taint effect to tolerate; empty means all."""
    toleration_seconds: int | None = None
    """For NoExecute: how long the pod stays bound after the taint appears."""


class CredentialSpec(ApiModel):
    """How the operator authenticates to Azure."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            Rule(
                "!(has(self.secretRef) && has(self.workloadIdentity) && self.workloadIdentity)",
                "use either credential.secretRef or credential.workloadIdentity, not both",
            )
        )
    )

    secret_ref: SecretRef | None = None
    """Secret with AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (service principal)."""
    workload_identity: bool = False
    """Use AKS Workload Identity (the operator pod's federated token); otherwise DefaultAzureCredential."""

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.secret_ref is not None and self.workload_identity:
            raise ValueError("credential: use either secretRef or workloadIdentity, not both")
        return self


class AzureMLSettings(ApiModel):
    """The Azure ML workspace a target-azureml resource lives in."""

    subscription_id: Annotated[
        str, Field(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
    ]
    """Azure subscription id (a GUID)."""
    resource_group: Annotated[str, Field(min_length=1, max_length=90)]
    """Resource group of the workspace."""
    workspace_name: Annotated[str, Field(min_length=2, max_length=33)]
    """Azure ML workspace name."""
    credential: CredentialSpec = Field(default_factory=CredentialSpec, json_schema_extra={"default": {}})
    """How to authenticate."""
    compute: Annotated[str, Field(min_length=2, max_length=255)] | None = None
    """Attached Kubernetes compute for a Kubernetes online endpoint; unset means a managed endpoint."""
    public_network_access: Literal["enabled", "disabled"] | None = None
    """Managed endpoints only: whether the scoring URI is reachable from the internet."""
