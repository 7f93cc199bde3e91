"""Types shared by several kinds: status and conditions, model/code/environment, compute, Azure ML.

Defaults are Azure ML's service defaults (see docs/api.md) so a manifest written for Azure ML
behaves the same here.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from mlendpoints.api import quantity
from mlendpoints.api.v1alpha1.base import (
    LABEL_VALUE_PATTERN,
    MODEL_URI_PATTERN,
    QUALIFIED_NAME_PATTERN,
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


#: CEL's spelling of the ``nvidia.com/gpu`` property (Kubernetes escapes ``.`` and ``/`` in names).
_GPU = "nvidia__dot__com__slash__gpu"


def _request_not_above_limit(key: str) -> Rule:
    req, lim = f"self.requests.{key}", f"self.limits.{key}"
    return Rule(
        f"!has(self.requests) || !has(self.limits) || !has({req}) || !has({lim}) || "
        f"quantity(string({req})).compareTo(quantity(string({lim}))) <= 0",
        f"requests.{key} must not be above limits.{key} (the API server rejects such a container)",
        reason="FieldValueInvalid",
    )


class ResourceRequirements(ApiModel):
    """Container requests and limits.

    Rules the API server enforces (as the core API does for a container): a request is not above its
    limit; ``nvidia.com/gpu`` is a whole number and, when both are set, its request equals its limit
    (extended resources cannot be overcommitted; a GPU request alone is rendered as the limit).
    """

    model_config = ConfigDict(
        json_schema_extra=rules(
            _request_not_above_limit("cpu"),
            _request_not_above_limit("memory"),
            Rule(
                f"!has(self.requests) || !has(self.limits) || !has(self.requests.{_GPU}) || "
                f"!has(self.limits.{_GPU}) || quantity(string(self.requests.{_GPU}))"
                f".compareTo(quantity(string(self.limits.{_GPU}))) == 0",
                "requests.nvidia.com/gpu must equal limits.nvidia.com/gpu: GPUs cannot be overcommitted "
                "(set one of them; the other follows)",
                reason="FieldValueInvalid",
            ),
            Rule(
                f"(!has(self.requests) || !has(self.requests.{_GPU}) || "
                f"quantity(string(self.requests.{_GPU})).isInteger()) && (!has(self.limits) || "
                f"!has(self.limits.{_GPU}) || quantity(string(self.limits.{_GPU})).isInteger())",
                "nvidia.com/gpu must be a whole number of GPUs",
                reason="FieldValueInvalid",
            ),
        )
    )

    requests: ResourceSettings | None = None
    """Guaranteed resources."""
    limits: ResourceSettings | None = None
    """Maximum resources."""

    @model_validator(mode="after")
    def _usable(self) -> Self:
        req = self.requests.to_dict() if self.requests else {}
        lim = self.limits.to_dict() if self.limits else {}
        for key in ("cpu", "memory"):
            if key in req and key in lim and quantity.parse(req[key]) > quantity.parse(lim[key]):
                raise ValueError(f"requests.{key} must not be above limits.{key}")
        gpu = "nvidia.com/gpu"
        for where, values in (("requests", req), ("limits", lim)):
            if gpu in values and quantity.parse(values[gpu]) % 1 != 0:
                raise ValueError(f"{where}.{gpu} must be a whole number of GPUs")
        if gpu in req and gpu in lim and quantity.parse(req[gpu]) != quantity.parse(lim[gpu]):
            raise ValueError(f"requests.{gpu} must equal limits.{gpu}: GPUs cannot be overcommitted")
        return self


class Toleration(ApiModel):
    """A core/v1 Toleration, with the rules the API server applies to a pod's tolerations."""

    model_config = ConfigDict(
        json_schema_extra=rules(
            Rule(
                "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
                "operator must be Exists when key is empty (a toleration of every taint)",
                field_path=".operator",
                reason="FieldValueInvalid",
            ),
            Rule(
                "!(has(self.operator) && self.operator == 'Exists') || !has(self.value) || self.value == ''",
                "value must be empty when operator is Exists",
                field_path=".value",
                reason="FieldValueInvalid",
            ),
            Rule(
                "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
                "tolerationSeconds is only valid with effect NoExecute",
                field_path=".tolerationSeconds",
                reason="FieldValueInvalid",
            ),
        )
    )

    key: Annotated[str, Field(max_length=316, pattern=QUALIFIED_NAME_PATTERN)] | None = None
    """Taint key (a label key: optional DNS prefix and '/', then a name of up to 63 characters)."""
    operator: Literal["Exists", "Equal"] | None = None
    """Exists or Equal (default Equal)."""
    value: Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)] | None = None
    """Taint value (a label value; empty with operator Exists)."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """Taint effect to tolerate; empty means all."""
    toleration_seconds: int | None = None
    """For NoExecute only: how long the pod stays bound after the taint appears."""

    @model_validator(mode="after")
    def _usable(self) -> Self:
        if not self.key and self.operator != "Exists":
            raise ValueError("operator must be Exists when key is empty")
        if self.operator == "Exists" and self.value:
            raise ValueError("value must be empty when operator is Exists")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds is only valid with effect NoExecute")
        return self


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
