"""Shared building blocks of the v1alpha1 API: the model base class, CEL rules, common types.

Every model derives from :class:`ApiModel`, which gives camelCase aliases (the YAML spelling),
rejects unknown fields (the API server prunes them too, and ``kubectl`` warns) and turns attribute
docstrings into field descriptions so ``kubectl explain`` documents every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from mlendpoints.api import quantity

GROUP = "mlendpoints.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

#: Azure ML's rule for endpoint and deployment names (3-32 chars), narrowed to DNS-1035 lower case
#: because the names also become Kubernetes object names and DNS labels.
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
NAME_MIN, NAME_MAX = 3, 32

#: Kubernetes resource.Quantity, as the core API spells it in its own OpenAPI.
QUANTITY_PATTERN = quantity.PATTERN

#: A label key (qualified name): optional DNS-1123 subdomain prefix and '/', then a name of at most
#: 63 characters (apimachinery ``IsQualifiedName``). Keys are at most 316 characters in all.
QUALIFIED_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$"
)
#: A label value (apimachinery ``IsValidLabelValue``), at most 63 characters.
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"

#: Model and code locations the storage initializer understands.
MODEL_URI_PATTERN = r"^(azureml:|azureml://|pvc://|https?://|s3://|gs://|az://|abfss://|wasbs://|oci://)\S+$"


class ApiModel(BaseModel):
    """Base of every API object: camelCase aliases, no unknown fields, docstrings as descriptions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON form: camelCase keys, unset optional fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


@dataclass(frozen=True)
class Rule:
    """A CEL ``x-kubernetes-validations`` rule, enforced by the API server.

    ``field_path`` makes the API server's error name the field (``spec.traffic: Invalid value``),
    which is what users read first.
    """

    rule: str
    message: str
    field_path: str | None = None
    reason: str | None = None

    def as_schema(self) -> dict[str, str]:
        out = {"rule": self.rule, "message": self.message}
        if self.field_path:
            out["fieldPath"] = self.field_path
        if self.reason:
            out["reason"] = self.reason
        return out


def rules(*items: Rule) -> dict[str, Any]:
    """``json_schema_extra`` carrying CEL rules for a model."""
    return {"x-kubernetes-validations": [r.as_schema() for r in items]}


#: Field-level rule for fields that may never change once set.
def immutable(what: str) -> dict[str, Any]:
    return rules(Rule("self == oldSelf", f"{what} is immutable", reason="FieldValueForbidden"))


Quantity = Annotated[
    int | str,
    AfterValidator(quantity.check),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "pattern": QUANTITY_PATTERN,
            "maxLength": 64,
        }
    ),
    Field(description="A Kubernetes quantity, e.g. 500m, 2, 4Gi."),
]

Name = Annotated[str, Field(min_length=NAME_MIN, max_length=NAME_MAX, pattern=NAME_PATTERN)]
Percent = Annotated[int, Field(ge=0, le=100)]

#: Free-form objects passed through to Kubernetes as written (e.g. HPA behavior).
PassThrough = Annotated[
    dict[str, Any],
    WithJsonSchema({"type": "object", "x-kubernetes-preserve-unknown-fields": True}),
]


class Target(StrEnum):
    """Where a resource is realised."""

    kubernetes = "kubernetes"
    azureml = "azureml"


def on_kubernetes(target: str | None) -> bool:
    """Whether an endpoint with this ``spec.target`` is realised as Kubernetes objects.

    The one test of the target: the controller's routing (everything else goes to the Azure ML
    backend), the Kubernetes reconcilers, the renderers and ``mlendpoints render`` use it.

    Args:
        target: ``spec.target`` of an OnlineEndpoint or BatchEndpoint, typed or as in the body;
            None when unset (the API's default, ``kubernetes``).
    """
    return target is None or target == Target.kubernetes


class DeletionPolicy(StrEnum):
    """What happens to Azure ML resources when the custom resource is deleted."""

    Delete = "Delete"
    Orphan = "Orphan"


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0

    def as_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            out["description"] = self.description
        if self.priority:
            out["priority"] = self.priority
        return out


READY_COLUMN = PrinterColumn(
    "Ready", '.status.conditions[?(@.type=="Ready")].status', description="Ready condition"
)
REASON_COLUMN = PrinterColumn(
    "Reason", '.status.conditions[?(@.type=="Ready")].reason', description="Why (not) ready", priority=1
)
AGE_COLUMN = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")


@dataclass(frozen=True)
class CrdInfo:
    """What the CRD needs besides the schema: names, scope, columns, subresources."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    namespaced: bool = True
    columns: tuple[PrinterColumn, ...] = ()
    scale: dict[str, str] | None = None
    categories: tuple[str, ...] = ("ml", "mlendpoints")
    #: CEL rules on ``metadata.name``. The generator puts them on the ``metadata.name`` property,
    #: not the root: the API server then names the field in its error, and a root rule would add
    #: "<nil>: some validation rules were not checked" to every other rejection.
    name_rules: tuple[Rule, ...] = field(default_factory=tuple)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"


#: Rules on ``metadata.name`` (``self`` is the name), for :attr:`CrdInfo.name_rules`.
NAME_RULE = Rule(
    f"size(self) >= {NAME_MIN} && size(self) <= {NAME_MAX}",
    f"must be {NAME_MIN}-{NAME_MAX} characters (Azure ML's limit for endpoint and deployment names)",
)
NAME_DNS1035_RULE = Rule(
    f"self.matches('{NAME_PATTERN}')",
    "must be a DNS-1035 label: lower-case letters, digits and '-', starting with a letter",
)
