"""``-f`` files -> what ``local up`` runs: one endpoint, its deployments' folders and environments.

The files are read as ``create -f`` reads them (:func:`mlendpoints.convert.load`, Azure ML CLI v2
YAML through :func:`mlendpoints.convert.azure.convert`), with one difference: local ``model.path``
and ``code`` folders are used where they are (``Options.in_place``), not uploaded. Our manifests
name URIs instead: those are fetched into the state folder by the storage initializer's own
:func:`mlendpoints.storage.fetch.fetch`, and a ``codeConfiguration.configMap`` is read from a
ConfigMap in the same files. The environment is the one the operator gives the scoring container
(:func:`mlendpoints.render.env.container_env`), with the local folders and a loopback port.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from mlendpoints.api import contract
from mlendpoints.api.errors import validation_message
from mlendpoints.api.v1alpha1.online import AuthMode, OnlineDeployment, OnlineEndpoint
from mlendpoints.convert import ConvertError, azure, load
from mlendpoints.convert.common import Options
from mlendpoints.local import state
from mlendpoints.render import env as render_env

#: The URI prefix local folders are planned under: it only satisfies the model's URI pattern; the
#: folder itself is served (``Result.uploads`` maps each URI back to it) and nothing is uploaded.
IN_PLACE_STORE = "az://mlendpoints-local"
#: Schemes a local process cannot read (the kubelet mounts them, or Azure ML resolves them).
UNREADABLE = ("pvc://", "oci://", "azureml:")
#: Kinds read from -f besides endpoints and deployments (the rest are listed as ignored).
QUIET_KINDS = {"ConfigMap", "InstanceType"}


M = TypeVar("M", bound=BaseModel)


class PlanError(ValueError):
    """Files that cannot be run locally; the message names the file or object and the field."""


@dataclass(frozen=True)
class Folder:
    """A folder a runtime reads: used in place, or filled first from a URI or a ConfigMap's files."""

    path: Path
    uri: str | None = None
    files: dict[str, bytes] | None = None


@dataclass(frozen=True)
class DeploymentPlan:
    name: str
    #: the runtime's environment, without the port and key folder (chosen at start)
    env: dict[str, str]
    model: Folder | None
    code: Folder | None
    #: seconds the front waits for an answer: requestSettings.requestTimeoutMs plus a margin
    timeout_s: float


@dataclass(frozen=True)
class Plan:
    endpoint: OnlineEndpoint
    deployments: list[DeploymentPlan]
    warnings: list[str] = field(default_factory=list)

    @property
    def auth_mode(self) -> str:
        return "key" if self.endpoint.spec.auth_mode is AuthMode.key else "none"


def read(files: list[str], root: Path, overrides: dict[str, dict[str, int] | None] | None = None) -> Plan:
    """Plan ``files`` (one OnlineEndpoint and its OnlineDeployments, ours or Azure's).

    Args:
        files: ``-f`` paths (``-`` is stdin).
        root: the state root; URIs are fetched to ``<root>/<endpoint>/fetched/<deployment>/``.
        overrides: ``{"traffic": {...}, "mirrorTraffic": {...}}`` replacing the endpoint's (None: keep).

    Raises:
        PlanError: unreadable or invalid files, not exactly one endpoint, a deployment of another
            endpoint, a local path that does not exist, a model or code a local process cannot read.
    """
    try:
        objects, docs = load(files)
        result = azure.convert(docs, Options(model_store=IN_PLACE_STORE, in_place=True))
    except ConvertError as exc:
        raise PlanError(str(exc)) from exc
    in_place = {u.uri: u.local for u in result.uploads}
    warnings = list(result.warnings)
    everything = result.objects + objects
    config_maps = {o["metadata"]["name"]: o for o in everything if o.get("kind") == "ConfigMap"}
    for o in everything:
        if o.get("kind") == "OnlineEndpoint":
            spec = o.setdefault("spec", {})
            spec |= {k: v for k, v in (overrides or {}).items() if v is not None}
    endpoints = [_valid(OnlineEndpoint, o) for o in everything if o.get("kind") == "OnlineEndpoint"]
    deps = [_valid(OnlineDeployment, o) for o in everything if o.get("kind") == "OnlineDeployment"]
    for o in everything:
        if o.get("kind") not in {"OnlineEndpoint", "OnlineDeployment", *QUIET_KINDS}:
            name = (o.get("metadata") or {}).get("name", "?")
            warnings.append(f"{o.get('kind')} {name}: ignored (local up runs online endpoints)")
    if len(endpoints) != 1:
        found = ", ".join(e.metadata.name for e in endpoints) or "none"
        raise PlanError(f"-f: give exactly one OnlineEndpoint (found: {found})")
    ep = endpoints[0]
    plans = []
    for dep in deps:
        if dep.spec.endpoint_name != ep.metadata.name:
            raise PlanError(
                f"OnlineDeployment {dep.metadata.name}: endpointName {dep.spec.endpoint_name} is not "
                f"the endpoint in -f ({ep.metadata.name})"
            )
        warnings += _local_limits(dep)
        fetch_dir = state.folder(root, ep.metadata.name) / "fetched" / dep.metadata.name
        plans.append(_deployment(dep, ep.metadata.name, in_place, config_maps, fetch_dir))
    if not plans:
        raise PlanError(f"-f: OnlineEndpoint {ep.metadata.name} has no OnlineDeployment in the files")
    _check_traffic(ep, {p.name for p in plans})
    return Plan(ep, plans, warnings)


def _valid(model: type[M], obj: dict[str, Any]) -> M:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        name = (obj.get("metadata") or {}).get("name", "?")
        raise PlanError(f"{obj.get('kind')} {name}: {validation_message(exc)}") from exc


def _check_traffic(ep: OnlineEndpoint, deployments: set[str]) -> None:
    for field_, weights in (("traffic", ep.spec.traffic), ("mirrorTraffic", ep.spec.mirror_traffic)):
        for name in weights:
            if name not in deployments:
                raise PlanError(
                    f"OnlineEndpoint {ep.metadata.name}: {field_}: {name} is not a deployment in -f "
                    f"(there are: {', '.join(sorted(deployments))})"
                )


def _local_limits(dep: OnlineDeployment) -> list[str]:
    """Warnings for what a local process does not do (see docs/cli.md, "Local endpoints")."""
    spec, who = dep.spec, f"OnlineDeployment {dep.metadata.name}"
    out = []
    if spec.instance_count != 1 or spec.scale_settings.type.value != "default":
        out.append(f"{who}: instanceCount/scaleSettings: one local process, whatever the count")
    if spec.environment.image or spec.environment.conda_file or spec.environment.pip_requirements:
        out.append(f"{who}: environment: not built locally; this Python environment runs the scoring script")
    if spec.model is not None and spec.model.credentials_secret_ref is not None:
        out.append(
            f"{who}: model.credentialsSecretRef: no Secrets locally; the download uses this shell's "
            "environment (AZURE_STORAGE_CONNECTION_STRING, AWS_*, GOOGLE_APPLICATION_CREDENTIALS)"
        )
    if spec.resources is not None or spec.instance_type:
        out.append(f"{who}: instanceType/resources: no resource limits on a local process")
    return out


def _deployment(
    dep: OnlineDeployment,
    endpoint: str,
    in_place: dict[str, Path],
    config_maps: dict[str, dict[str, Any]],
    fetch_dir: Path,
) -> DeploymentPlan:
    name, spec = dep.metadata.name, dep.spec
    if spec.environment.inference_config is not None:
        raise PlanError(
            f"OnlineDeployment {name}: environment.inferenceConfig: a custom container needs its image; "
            "local up runs only the mlendpoints scoring runtime"
        )
    model = None
    if spec.model is not None:
        model = _folder(
            spec.model.path, in_place, fetch_dir / "model", f"OnlineDeployment {name}: model.path"
        )
        if model.uri is None and model.path.is_file():
            model = Folder(model.path.parent)  # AZUREML_MODEL_DIR is the file's folder, as in a pod
    code = None
    if spec.code_configuration is not None:
        cc, where = spec.code_configuration, f"OnlineDeployment {name}: codeConfiguration"
        if cc.config_map is not None:
            code = Folder(fetch_dir / "code", files=_config_map_files(config_maps, cc.config_map.name, where))
        else:
            assert cc.code is not None  # the model's validator: exactly one of code and configMap
            code = _folder(cc.code, in_place, fetch_dir / "code", f"{where}.code")
    return DeploymentPlan(
        name=name,
        env=runtime_env(dep, endpoint, model=model, code=code),
        model=model,
        code=code,
        timeout_s=spec.request_settings.request_timeout_ms / 1000 + 5,
    )


def _folder(uri: str, in_place: dict[str, Path], dest: Path, where: str) -> Folder:
    if uri in in_place:
        return Folder(in_place[uri])
    if uri.startswith(UNREADABLE):
        raise PlanError(
            f"{where}: {uri}: a local process cannot read it; use a local folder (Azure YAML "
            "model.path: ./model) or a URI that can be downloaded (https://, az://, s3://, gs://)"
        )
    return Folder(dest, uri=uri)


def _config_map_files(config_maps: dict[str, dict[str, Any]], name: str, where: str) -> dict[str, bytes]:
    cm = config_maps.get(name)
    if cm is None:
        raise PlanError(f"{where}.configMap: ConfigMap {name} is not in the -f files")
    files = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
    files |= {k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()}
    return files


def runtime_env(
    dep: OnlineDeployment, endpoint: str, *, model: Folder | None, code: Folder | None
) -> dict[str, str]:
    """The variables the operator sets in the scoring container, with local folders.

    Differences from a pod: ``AZUREML_MODEL_DIR``/``AZUREML_SOURCE_DIRECTORY``/``AML_APP_ROOT`` are
    the local folders; the runtime listens on 127.0.0.1 and drains for 0 ms on SIGTERM (no load
    balancer to wait for); ``HOME`` is the user's; user values are passed literally (no ``$(``
    escaping, which only Kubernetes needs). A user variable that clashes with the contract is
    dropped, as in a pod.
    """
    plan = render_env.EnvPlan(runtime=True, auth_keys=False, pip_packages=False)
    listed, ignored = render_env.container_env(dep, endpoint=endpoint, plan=plan)
    env = {str(e["name"]): str(e["value"]) for e in listed}
    user = dep.spec.environment_variables
    env |= {k: v for k, v in user.items() if k not in ignored}
    if "HOME" not in user:
        env.pop("HOME", None)
    if model is not None:
        env["AZUREML_MODEL_DIR"] = str(model.path)
    if code is not None:
        env["AZUREML_SOURCE_DIRECTORY"] = env["AML_APP_ROOT"] = str(code.path)
    env["MLENDPOINTS_HOST"] = "127.0.0.1"
    env["MLENDPOINTS_SHUTDOWN_DRAIN_MS"] = "0"
    env.pop(contract.ENV_PORT, None)
    return env
