"""Container resources: spec.resources over the InstanceType's, over the operator's defaults.

Merge rule (documented in docs/online-endpoints.md): the base is the InstanceType's
``resources`` when the deployment resolves one, else ``RenderSettings.default_resources``; each
field the deployment sets in ``spec.resources`` (requests/limits x cpu/memory/nvidia.com/gpu)
replaces the base's. GPUs are extended resources, which Kubernetes cannot overcommit: they are
rendered as a limit only (the request then defaults to it). When a value the user set conflicts
with a base value (a request above a limit), the user's value wins and the base value follows it;
a conflict between two values of the same origin is a :class:`RenderError`.
"""

from __future__ import annotations

from mlendpoints.api import quantity
from mlendpoints.api.v1alpha1.common import ResourceRequirements, ResourceSettings
from mlendpoints.api.v1alpha1.instancetype import InstanceTypeSpec
from mlendpoints.render.errors import RenderError

GPU = "nvidia.com/gpu"
_SECTIONS = ("requests", "limits")
_USER, _BASE = "spec.resources", "base"


def _settings_dict(settings: ResourceSettings | None) -> dict[str, str]:
    if settings is None:
        return {}
    return {k: str(v) for k, v in settings.to_dict().items()}


def _as_dict(req: ResourceRequirements | None) -> dict[str, dict[str, str]]:
    if req is None:
        return {}
    return {"requests": _settings_dict(req.requests), "limits": _settings_dict(req.limits)}


def container_resources(
    spec: ResourceRequirements | None,
    *,
    compute: InstanceTypeSpec | None,
    defaults: dict[str, dict[str, str]],
    compute_name: str = "InstanceType",
) -> dict[str, dict[str, str]]:
    """The main container's ``resources``.

    Args:
        spec: The deployment's ``spec.resources``.
        compute: The resolved InstanceType's spec, if any.
        defaults: ``RenderSettings.default_resources``, used when no InstanceType gives resources.
        compute_name: How error messages name the base (e.g. ``InstanceType gpu-t4``).

    Raises:
        RenderError: a request above its limit where both come from the same place, or a GPU
            request different from the GPU limit.
    """
    base = _as_dict(compute.resources) if compute is not None and compute.resources is not None else defaults
    base_name = compute_name if compute is not None and compute.resources is not None else "default resources"
    user = _as_dict(spec)
    merged: dict[str, dict[str, str]] = {s: dict(base.get(s, {})) for s in _SECTIONS}
    origin: dict[tuple[str, str], str] = {(s, k): _BASE for s in _SECTIONS for k in merged[s]}
    for section in _SECTIONS:
        for key, value in user.get(section, {}).items():
            merged[section][key] = value
            origin[(section, key)] = _USER
    _gpu_as_limit(merged, origin, base_name)
    for key in ("cpu", "memory"):
        _reconcile_request_limit(merged, origin, key, base_name)
    return {s: merged[s] for s in _SECTIONS if merged[s]}


def _gpu_as_limit(
    merged: dict[str, dict[str, str]], origin: dict[tuple[str, str], str], base_name: str
) -> None:
    request = merged["requests"].pop(GPU, None)
    if request is None:
        return
    limit = merged["limits"].get(GPU)
    if limit is None or quantity.parse(limit) == quantity.parse(request):
        merged["limits"][GPU] = limit or request
        return
    req_origin, lim_origin = origin[("requests", GPU)], origin[("limits", GPU)]
    if req_origin == lim_origin:
        where = "spec.resources" if req_origin == _USER else base_name
        raise RenderError(
            f"{where}: {GPU} request ({request}) must equal its limit ({limit}): GPUs cannot be overcommitted"
        )
    merged["limits"][GPU] = request if req_origin == _USER else limit


def _reconcile_request_limit(
    merged: dict[str, dict[str, str]], origin: dict[tuple[str, str], str], key: str, base_name: str
) -> None:
    request, limit = merged["requests"].get(key), merged["limits"].get(key)
    if request is None or limit is None or quantity.parse(request) <= quantity.parse(limit):
        return
    req_origin, lim_origin = origin[("requests", key)], origin[("limits", key)]
    if req_origin == _USER and lim_origin == _BASE:
        merged["limits"][key] = request  # the user's request wins: the inherited limit follows it
    elif lim_origin == _USER and req_origin == _BASE:
        merged["requests"][key] = limit  # the user's limit wins: the inherited request follows it
    else:
        where = "spec.resources" if req_origin == _USER else base_name
        raise RenderError(f"{where}: requests.{key} ({request}) is above limits.{key} ({limit})")
