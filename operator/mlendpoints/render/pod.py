"""The scoring pod template: containers, volumes, security, scheduling.

Called by :mod:`mlendpoints.render.deployment`. Two shapes:

* **runtime** (no ``environment.inferenceConfig``): the scoring runtime image (or the user's
  ``environment.image`` built from it) runs ``mlendpoints serve``, configured by the environment
  contract in :mod:`mlendpoints.render.env`, listening on port 5001 (``http``).
* **custom container** (``environment.inferenceConfig``): the user's image runs as is; its scoring
  route's port is named ``http`` and its liveness/readiness routes are probed.

Security defaults follow the restricted Pod Security Standard: non-root, RuntimeDefault seccomp,
no privilege escalation, no capabilities, read-only root filesystem with a writable ``/tmp``, and
no service account token (scoring code has no business calling the Kubernetes API). The runtime
image's user is pinned to 1000; a user image keeps its own non-root user.
"""

from __future__ import annotations

import math

from mlendpoints.api.v1alpha1.instancetype import InstanceTypeSpec
from mlendpoints.api.v1alpha1.online import AuthMode, OnlineDeployment, OnlineEndpoint
from mlendpoints.render import env, names, packages, probes, resources, sources
from mlendpoints.render.errors import RenderError
from mlendpoints.render.settings import RenderSettings
from mlendpoints.render.types import Obj

CONTAINER = "scoring"
CODE_HASH_ANNOTATION = "mlendpoints.io/code-hash"
#: The runtime image's user and group (the image's USER); user images keep their own.
RUNTIME_UID = 1000
MODEL_FETCH_DEST = "/mnt/models"
CODE_FETCH_DEST = "/mnt/code"
#: The one writable directory of the read-only root filesystem (an emptyDir), also HOME for init containers.
TMP = "/tmp"  # noqa: S108 -- a container path, not a temp file on this machine


def container_security() -> Obj:
    """A fresh container securityContext (restricted Pod Security Standard)."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


class _Pod:
    """Accumulates volumes, mounts and init containers while the template is assembled."""

    def __init__(self) -> None:
        self.volumes: list[Obj] = [{"name": "tmp", "emptyDir": {}}]
        self.mounts: list[Obj] = [{"name": "tmp", "mountPath": TMP}]
        self.fetches: list[sources.Fetch] = []
        self.env_from: list[Obj] = []

    def add(self, src: sources.Source) -> None:
        self.volumes.append(src.volume)
        self.mounts.append(src.mount)
        if src.fetch is not None:
            self.fetches.append(src.fetch)


def _sources(dep: OnlineDeployment, endpoint: OnlineEndpoint, pod: _Pod) -> str | None:
    """Model, code, keys and data-collector volumes; returns the data collector's destination."""
    spec = dep.spec
    creds = (
        spec.model.credentials_secret_ref.name if spec.model and spec.model.credentials_secret_ref else None
    )
    if spec.model is not None:
        pod.add(
            sources.source(
                spec.model.path,
                volume="model",
                mount_path=spec.model_mount_path,
                what="model.path",
                fetch_name="storage-initializer",
                fetch_dest=MODEL_FETCH_DEST,
                credentials_secret=creds,
            )
        )
    code = spec.code_configuration
    if code is not None and code.config_map is not None:
        pod.volumes.append({"name": "code", "configMap": {"name": code.config_map.name}})
        pod.mounts.append({"name": "code", "mountPath": env.CODE_DIR, "readOnly": True})
    elif code is not None and code.code is not None:
        pod.add(
            sources.source(
                code.code,
                volume="code",
                mount_path=env.CODE_DIR,
                what="codeConfiguration.code",
                fetch_name="code-initializer",
                fetch_dest=CODE_FETCH_DEST,
                credentials_secret=creds,
            )
        )
    if endpoint.spec.auth_mode is AuthMode.key:
        secret = {"secretName": names.keys_secret(endpoint.metadata.name)}
        pod.volumes.append({"name": "auth-keys", "secret": secret})
        pod.mounts.append({"name": "auth-keys", "mountPath": env.KEYS_DIR, "readOnly": True})
    collector = spec.data_collector
    if collector is None or not collector.enabled or not collector.destination:
        return None
    if collector.destination.startswith("pvc://"):
        vol, sub = sources.pvc_volume(
            collector.destination, volume="data-collector", what="dataCollector.destination", read_only=False
        )
        mount: Obj = {"name": "data-collector", "mountPath": env.DATA_COLLECTOR_DIR}
        if sub:
            mount["subPath"] = sub
        pod.volumes.append(vol)
        pod.mounts.append(mount)
        return f"file://{env.DATA_COLLECTOR_DIR}"
    if creds:  # the runtime writes to object storage with the same credentials as the download
        pod.env_from.append({"secretRef": {"name": creds}})
    return collector.destination


def _ports_and_probes(dep: OnlineDeployment) -> tuple[list[Obj], Obj, Obj]:
    spec = dep.spec
    cfg = spec.environment.inference_config
    if cfg is None:
        port = {"name": "http", "containerPort": env.RUNTIME_PORT, "protocol": "TCP"}
        live = probes.http_probe(spec.liveness_probe, path=probes.RUNTIME_LIVENESS_PATH, port="http")
        ready = probes.http_probe(spec.readiness_probe, path=probes.RUNTIME_READINESS_PATH, port="http")
        return [port], live, ready
    named = {cfg.scoring_route.port: "http"}
    named.setdefault(cfg.liveness_route.port, "liveness")
    named.setdefault(cfg.readiness_route.port, "readiness")
    ports = [{"name": n, "containerPort": p, "protocol": "TCP"} for p, n in named.items()]
    live = probes.http_probe(spec.liveness_probe, path=cfg.liveness_route.path, port=cfg.liveness_route.port)
    ready = probes.http_probe(
        spec.readiness_probe, path=cfg.readiness_route.path, port=cfg.readiness_route.port
    )
    return ports, live, ready


def _init_resources(main: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The main container's cpu/memory: downloads and pip need memory, never a GPU."""
    out = {s: {k: v for k, v in vals.items() if k in ("cpu", "memory")} for s, vals in main.items()}
    return {s: v for s, v in out.items() if v}


def _check_mounts(mounts: list[Obj]) -> None:
    seen: set[str] = set()
    for m in mounts:
        path = str(m["mountPath"]).rstrip("/") or "/"
        if path in seen:
            raise RenderError(
                f"modelMountPath: {path!r} collides with another mount of the scoring container"
            )
        seen.add(path)


def _grace_seconds(dep: OnlineDeployment) -> int:
    """Long enough for a request that just got a worker to finish after its queue wait."""
    req = dep.spec.request_settings
    return max(30, math.ceil((req.request_timeout_ms + req.max_queue_wait_ms) / 1000) + 5)


def pod_template(
    dep: OnlineDeployment,
    *,
    endpoint: OnlineEndpoint,
    compute: InstanceTypeSpec | None,
    code_hash: str | None,
    settings: RenderSettings,
    pod_labels: dict[str, str],
    selector: dict[str, str],
) -> tuple[Obj, list[str]]:
    """``(template, ignored)``: the Deployment's ``spec.template`` and the user environment
    variables dropped because they clash with the runtime contract.

    Raises:
        RenderError: an unsupported model or code URI, conflicting resources, an invalid conda
            file, or a model mount path that collides with another mount.
    """
    spec = dep.spec
    runtime = spec.environment.inference_config is None
    image = spec.environment.image or settings.runtime_image
    pod = _Pod()
    destination = _sources(dep, endpoint, pod)
    reqs = packages.requirements(spec.environment) if runtime else []
    if reqs:
        pod.volumes.append({"name": packages.VOLUME, "emptyDir": {}})
        pod.mounts.append({"name": packages.VOLUME, "mountPath": packages.SITE_PACKAGES, "readOnly": True})
    _check_mounts(pod.mounts)
    plan = env.EnvPlan(
        runtime=runtime,
        auth_keys=endpoint.spec.auth_mode is AuthMode.key,
        pip_packages=bool(reqs),
        data_collector_destination=destination,
    )
    env_list, ignored = env.container_env(dep, endpoint=endpoint.metadata.name, plan=plan)
    compute_name = f"InstanceType {spec.instance_type}" if spec.instance_type else "InstanceType"
    res = resources.container_resources(
        spec.resources, compute=compute, defaults=settings.default_resources, compute_name=compute_name
    )
    container = _main_container(
        dep, image=image, settings=settings, runtime=runtime, env_list=env_list, pod=pod, res=res
    )
    init = [_fetch_container(f, settings=settings, resources_=_init_resources(res)) for f in pod.fetches]
    if reqs:
        init.append(_pip_container(reqs, main=container, resources_=_init_resources(res)))
    pod_spec: Obj = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": _grace_seconds(dep),
        "securityContext": _pod_security(own_image=spec.environment.image is None),
        **_scheduling(compute, selector),
    }
    if init:
        pod_spec["initContainers"] = init
    pod_spec |= {"containers": [container], "volumes": pod.volumes}
    annotations = {"kubectl.kubernetes.io/default-container": CONTAINER}
    if code_hash:
        annotations[CODE_HASH_ANNOTATION] = code_hash
    return {"metadata": {"labels": dict(pod_labels), "annotations": annotations}, "spec": pod_spec}, ignored


def _main_container(
    dep: OnlineDeployment,
    *,
    image: str,
    settings: RenderSettings,
    runtime: bool,
    env_list: list[Obj],
    pod: _Pod,
    res: Obj,
) -> Obj:
    """The scoring container: image (our runtime's command unless a custom container), ports, env,
    resources, probes, the mounts collected in ``pod`` and a restricted security context."""
    ports, liveness, readiness = _ports_and_probes(dep)
    container: Obj = {"name": CONTAINER, "image": image}
    if dep.spec.environment.image is None:
        container["imagePullPolicy"] = settings.image_pull_policy
    if runtime:
        container["command"] = ["mlendpoints", "serve"]
    container |= {"ports": ports, "env": env_list}
    if pod.env_from:
        container["envFrom"] = pod.env_from
    return container | {
        "resources": res,
        "livenessProbe": liveness,
        "readinessProbe": readiness,
        "volumeMounts": pod.mounts,
        "securityContext": container_security(),
    }


def _pod_security(*, own_image: bool) -> Obj:
    """Pod securityContext: non-root with the default seccomp profile; our image's user and group."""
    pod_security: Obj = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if own_image:
        pod_security |= {"runAsUser": RUNTIME_UID, "runAsGroup": RUNTIME_UID, "fsGroup": RUNTIME_UID}
    return pod_security


def _scheduling(compute: InstanceTypeSpec | None, selector: dict[str, str]) -> Obj:
    """The InstanceType's nodeSelector and tolerations, and a soft spread of the pods over nodes."""
    out: Obj = {}
    if compute is not None and compute.node_selector:
        out["nodeSelector"] = dict(compute.node_selector)
    if compute is not None and compute.tolerations:
        out["tolerations"] = [t.to_dict() for t in compute.tolerations]
    out["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
        }
    ]
    return out


def _fetch_container(fetch: sources.Fetch, *, settings: RenderSettings, resources_: Obj) -> Obj:
    out: Obj = {
        "name": fetch.name,
        "image": settings.runtime_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": fetch.command,
        "env": [{"name": "HOME", "value": TMP}],
    }
    if fetch.env_from:
        out["envFrom"] = fetch.env_from
    # The runtime image's user explicitly, so downloads work under a custom main image too.
    security = container_security() | {"runAsUser": RUNTIME_UID, "runAsGroup": RUNTIME_UID}
    return out | {
        "resources": resources_,
        "volumeMounts": [*fetch.mounts, {"name": "tmp", "mountPath": TMP}],
        "securityContext": security,
        # `mlendpoints fetch` writes its one-line reason to /dev/termination-log; pip does not, so
        # its last log lines stand in. Either way the pod status carries why the init failed.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _pip_container(reqs: list[str], *, main: Obj, resources_: Obj) -> Obj:
    out: Obj = {"name": "pip-install", "image": main["image"]}
    if "imagePullPolicy" in main:
        out["imagePullPolicy"] = main["imagePullPolicy"]
    return out | {
        "command": packages.install_command(reqs),
        "env": [{"name": "HOME", "value": TMP}],
        "resources": resources_,
        "volumeMounts": [
            {"name": packages.VOLUME, "mountPath": packages.SITE_PACKAGES},
            {"name": "tmp", "mountPath": TMP},
        ],
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
