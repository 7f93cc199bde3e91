"""Put manifests into a cluster: our CRDs, the Gateway API CRDs, the examples.

Shared by ``mlendpoints dev demo`` and the pytest ``cluster`` fixture so both install exactly
the same way: server-side apply (the way users are told to install and upgrade CRDs; client-side
apply's last-applied annotation overflows on big CRDs), then wait for ``Established`` so the
first custom resource created afterwards is not rejected with "no matches for kind".
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mlendpoints_dev.cluster import FIELD_MANAGER, KWOK_NODE_ANNOTATION, KubeCluster, KubectlError
from mlendpoints_dev.versions import binary_paths

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def repo_root(start: Path | None = None) -> Path | None:
    """The source checkout (the directory holding ``pyproject.toml`` and ``crds/``), if there is one.

    ``$MLENDPOINTS_REPO`` wins; then the current directory and its parents; then the checkout
    this package was imported from (editable installs).
    """
    env = os.environ.get("MLENDPOINTS_REPO")
    if env:
        return Path(env)
    first = (start or Path.cwd()).resolve()
    for c in [first, *first.parents, Path(__file__).resolve().parents[2]]:
        if (c / "pyproject.toml").is_file() and (c / "crds").is_dir():
            return c
    return None


def manifest_files(directory: Path, *, recursive: bool = False) -> list[Path]:
    """Manifest files under ``directory`` in a stable (sorted) order."""
    if not directory.is_dir():
        return []
    it = directory.rglob("*") if recursive else directory.glob("*")
    return sorted(p for p in it if p.is_file() and p.suffix in MANIFEST_SUFFIXES)


def _apply_files(cluster: KubeCluster, files: Sequence[Path], *, timeout: float = 120) -> list[str]:
    """Server-side apply ``files`` in one kubectl call; returns the applied objects' ``kind.group/name``."""
    if not files:
        return []
    args = ["apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--force-conflicts", "-o", "name"]
    for f in files:
        args += ["-f", str(f)]
    out = cluster.kubectl(*args, timeout=timeout).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def wait_established(cluster: KubeCluster, crds: Iterable[str], timeout: float = 60) -> None:
    """Block until every CRD (``customresourcedefinition.apiextensions.k8s.io/<name>``) is Established."""
    names = [c for c in crds if c.startswith("customresourcedefinition")]
    if names:
        cluster.kubectl(
            "wait", "--for=condition=Established", f"--timeout={int(timeout)}s", *names, timeout=timeout + 10
        )


#: The release that ``helm install`` in README.md creates; the demo's CRDs are marked as its own.
DEMO_HELM_RELEASE = ("mlendpoints", "mlendpoints")


def install_crds(
    cluster: KubeCluster,
    crd_dir: Path,
    *,
    timeout: float = 60,
    helm_release: tuple[str, str] | None = None,
) -> list[str]:
    """Apply every manifest in ``crd_dir`` (our generated ``crds/*.yaml``) and wait until Established.

    ``helm_release=(name, namespace)`` also marks the CRDs as that release's (:func:`mark_for_helm`),
    so a later ``helm install name charts/mlendpoints -n namespace`` adopts them instead of failing
    with "invalid ownership metadata". Returns the applied objects' ``kind.group/name``.
    """
    applied = _apply_files(cluster, manifest_files(crd_dir))
    wait_established(cluster, applied, timeout)
    if helm_release is not None:
        mark_for_helm(cluster, applied, *helm_release)
    return applied


def mark_for_helm(cluster: KubeCluster, objects: Sequence[str], release: str, namespace: str) -> None:
    """Give ``objects`` (``kind.group/name``) Helm's ownership label and annotations for ``release``.

    Helm 3 adopts an existing object into a release when it carries
    ``app.kubernetes.io/managed-by: Helm`` and the ``meta.helm.sh/release-name`` and
    ``meta.helm.sh/release-namespace`` annotations of that release (Helm docs, "helm install",
    and helm/helm#7649). Raises ``KubectlError`` when kubectl fails.
    """
    if not objects:
        return
    cluster.kubectl("label", *objects, "app.kubernetes.io/managed-by=Helm", "--overwrite")
    cluster.kubectl(
        "annotate",
        *objects,
        f"meta.helm.sh/release-name={release}",
        f"meta.helm.sh/release-namespace={namespace}",
        "--overwrite",
    )


def install_gateway_api(
    cluster: KubeCluster, manifest: Path | None = None, *, timeout: float = 60
) -> list[str]:
    """Install the Gateway API standard-channel CRDs (Gateway, HTTPRoute, GatewayClass, ...).

    The file comes from the binary cache (``gateway-api-<version>/standard-install.yaml``); it
    also holds upstream's ``safe-upgrades`` ValidatingAdmissionPolicy, as the release file does.
    """
    path = manifest if manifest is not None else binary_paths().gateway_api_crds
    if not path.is_file():
        from mlendpoints_dev.build import ensure_binaries

        path = ensure_binaries().gateway_api_crds
    applied = _apply_files(cluster, [path])
    wait_established(cluster, applied, timeout)
    return applied


def _is_manifest(path: Path) -> bool:
    """True if every document in the file is a Kubernetes object (has apiVersion and kind).

    examples/ may hold other YAML (conda environments, values files); those are skipped, not applied.
    """
    try:
        import yaml
    except ImportError:  # without PyYAML, let kubectl be the judge
        return True
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    return bool(docs) and all(isinstance(d, dict) and "apiVersion" in d and "kind" in d for d in docs)


GPU_RESOURCE = "nvidia.com/gpu"


def _documents(path: Path) -> list[dict[str, Any]]:
    import yaml

    try:
        return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    except (yaml.YAMLError, UnicodeDecodeError):
        return []


def gpu_examples(files: Sequence[Path]) -> dict[Path, str]:
    """The files among ``files`` whose deployments need a GPU, with why: ``{file: reason}``.

    A deployment needs one when its ``instanceType`` names an InstanceType (defined in any of
    ``files``) whose spec mentions ``nvidia.com/gpu``, or when its own spec does.
    """
    docs = {f: _documents(f) for f in files}
    gpu_types = {
        str((d.get("metadata") or {}).get("name"))
        for ds in docs.values()
        for d in ds
        if d.get("kind") == "InstanceType" and GPU_RESOURCE in json.dumps(d.get("spec"))
    }
    found: dict[Path, str] = {}
    for f, ds in docs.items():
        for d in ds:
            spec = d.get("spec")
            if d.get("kind") not in ("OnlineDeployment", "BatchDeployment") or not isinstance(spec, dict):
                continue
            if spec.get("instanceType") in gpu_types:
                found[f] = f"instanceType {spec['instanceType']} requests {GPU_RESOURCE}"
            elif GPU_RESOURCE in json.dumps(spec):
                found[f] = f"it requests {GPU_RESOURCE}"
    return found


def real_gpu_nodes(nodes: Iterable[Mapping[str, Any]]) -> list[str]:
    """Names of the nodes (``kubectl get nodes`` items) that offer ``nvidia.com/gpu`` and really
    run containers: kwok's nodes (annotated ``kwok.x-k8s.io/node``) only simulate them."""
    names = []
    for n in nodes:
        meta, status = n.get("metadata") or {}, n.get("status") or {}
        if KWOK_NODE_ANNOTATION in (meta.get("annotations") or {}):
            continue
        if str((status.get("allocatable") or {}).get(GPU_RESOURCE, "0")) not in ("", "0"):
            names.append(str(meta.get("name")))
    return names


def apply_examples(
    cluster: KubeCluster,
    examples_dir: Path,
    *,
    log: Callable[[str], None] = print,
    passes: int = 3,
    exclude: Collection[Path] = (),
) -> list[str]:
    """Server-side apply every manifest under ``examples_dir`` (recursively), except ``exclude``.

    Files are applied one by one in sorted order. A file that fails because something it needs
    (a Namespace, a CRD) comes from a later file is retried in the next pass, up to ``passes``
    passes; errors of the last pass are raised.
    """
    files = [f for f in manifest_files(examples_dir, recursive=True) if f not in exclude]
    pending = []
    for f in files:
        if _is_manifest(f):
            pending.append(f)
        else:
            log(f"  skipping {f.relative_to(examples_dir)} (not a Kubernetes manifest)")
    applied: list[str] = []
    errors: dict[Path, str] = {}
    for _ in range(passes):
        errors = {}
        for f in pending:
            try:
                objs = _apply_files(cluster, [f])
            except KubectlError as e:
                errors[f] = str(e)
                continue
            applied += objs
            log(f"  applied {f.relative_to(examples_dir)}: {', '.join(objs)}")
        if not errors:
            break
        pending = list(errors)
    if errors:
        raise RuntimeError("could not apply:\n" + "\n".join(f"  {f}: {msg}" for f, msg in errors.items()))
    return applied
