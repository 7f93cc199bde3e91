"""The root shape shared by every kind: apiVersion, kind, metadata, spec, status."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlendpoints.api.v1alpha1.base import (
    NAME_MAX,
    NAME_MIN,
    NAME_PATTERN,
    NAME_RULE,
    ApiModel,
    CrdInfo,
)


class ObjectMeta(BaseModel):
    """The parts of metav1.ObjectMeta the operator reads; everything else is kept as is."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = ""
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = Field(default=None, alias="resourceVersion")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    deletion_timestamp: str | None = Field(default=None, alias="deletionTimestamp")


class Resource(ApiModel):
    """Base of the six root kinds. ``crd`` carries what crdgen needs beyond the schema."""

    # Bodies from the API server carry fields we do not model (managedFields, status extras from
    # older versions); the root tolerates them, while spec models stay strict.
    model_config = ConfigDict(extra="ignore")

    crd: ClassVar[CrdInfo]

    api_version: Literal["mlendpoints.io/v1alpha1"] = Field(
        default="mlendpoints.io/v1alpha1", alias="apiVersion"
    )
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @model_validator(mode="after")
    def _name_rule(self) -> Resource:
        # Same rule as the CRD's CEL rules on metadata.name, so offline validation (render, tests) agrees.
        name = self.metadata.name
        if (
            name
            and NAME_RULE in self.crd.name_rules
            and not (NAME_MIN <= len(name) <= NAME_MAX and re.match(NAME_PATTERN, name))
        ):
            raise ValueError(f"metadata.name: {name!r} must be {NAME_MIN}-{NAME_MAX} characters, DNS-1035")
        return self
