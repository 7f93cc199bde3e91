"""Builders for renderer tests: validated models with a namespace and uid, and accessors."""

from __future__ import annotations

from typing import Any

from mlendpoints.api.v1alpha1 import InstanceType, OnlineDeployment, OnlineEndpoint
from mlendpoints.api.v1alpha1.instancetype import InstanceTypeSpec
from mlendpoints.render import online
from mlendpoints.render.settings import RenderSettings

NAMESPACE = "ml"


def endpoint(name: str = "ep1", **spec: Any) -> OnlineEndpoint:
    return OnlineEndpoint.model_validate(
        {"metadata": {"name": name, "namespace": NAMESPACE, "uid": f"uid-ep-{name}"}, "spec": spec}
    )


def deployment(name: str = "blue", endpoint_name: str = "ep1", **spec: Any) -> OnlineDeployment:
    spec.setdefault("model", {"path": "https://models.example.com/m/model.pkl", "type": "mlflow"})
    return OnlineDeployment.model_validate(
        {
            "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"uid-dep-{name}"},
            "spec": {"endpointName": endpoint_name, **spec},
        }
    )


def instance_type(**spec: Any) -> InstanceTypeSpec:
    return InstanceType.model_validate({"metadata": {"name": "it"}, "spec": spec}).spec


def children(
    dep: OnlineDeployment,
    ep: OnlineEndpoint | None = None,
    *,
    compute: InstanceTypeSpec | None = None,
    code_hash: str | None = None,
    settings: RenderSettings | None = None,
) -> dict[str, dict[str, Any]]:
    """The deployment's children by kind."""
    objs = online.deployment_children(
        dep,
        endpoint=ep or endpoint(dep.spec.endpoint_name),
        compute=compute,
        code_hash=code_hash,
        settings=settings or RenderSettings(),
    )
    kinds = [o["kind"] for o in objs]
    assert len(kinds) == len(set(kinds)), kinds
    return {o["kind"]: o for o in objs}


def pod_spec(dep: OnlineDeployment, ep: OnlineEndpoint | None = None, **kw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = children(dep, ep, **kw)["Deployment"]["spec"]["template"]["spec"]
    return spec


def container(dep: OnlineDeployment, ep: OnlineEndpoint | None = None, **kw: Any) -> dict[str, Any]:
    c: dict[str, Any] = pod_spec(dep, ep, **kw)["containers"][0]
    return c


def env_of(c: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in c["env"]}
