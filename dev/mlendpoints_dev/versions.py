"""Pinned versions of the local control plane's components, and where their binaries are cached.

Why pinned in one place: the binaries are compiled from the Go module proxy (there is no
download of release tarballs and no Docker), which takes 10-25 minutes cold, so they are cached
per version. Bumping a version here makes ``ensure_binaries`` build the new one next to the old;
the build script, the cluster, the docs and the ``/version`` test all read these constants.

Why these versions:

* Kubernetes v1.36.3: its go.mod says ``go 1.26.0``, matching the Go 1.26 toolchain we build with.
* etcd v3.6.16: kubeadm pairs K8s 1.34-1.36 with etcd 3.6.x; anything below 3.5.13 lacks
  ``RequestWatchProgress`` that a 1.35+ apiserver relies on for consistent watches.
* kwok v0.8.0: no ``replace`` lines, so ``go install`` works; it ships no built-in stages, so the
  build concatenates the "fast" stages into ``stages.yaml``.
* Helm v3.21.4: built with ``-X`` flags so ``helm template`` assumes our Kubernetes minor.
* Gateway API v1.6.3: the standard-channel CRDs (Gateway, HTTPRoute, ...), taken from the module zip.
* Traefik v3.6.12: the Gateway API implementation (``--providers.kubernetesgateway``). v3.7.x
  cannot be built from the proxy (its go.mod replaces a nested module the proxy does not serve,
  and some DNS-provider dependencies answer 403); v3.6.12 builds inside a copy of its module source.
* Azurite 3.37.0: Microsoft's Azure Storage emulator (npm), for ``az://``/``abfss://`` sources.
* helm-docs v1.14.2: renders the chart's values table from the ``# --`` comments in values.yaml
  (``mlendpoints dev values``); the newest tag the proxy serves, and a plain ``go install``.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

KUBERNETES = "v1.36.3"
ETCD = "v3.6.16"
KWOK = "v0.8.0"
HELM = "v3.21.4"
GATEWAY_API = "v1.6.3"
TRAEFIK = "v3.6.12"
AZURITE = "3.37.0"
HELM_DOCS = "v1.14.2"

#: Argument order of ``build-binaries.sh``.
BUILD_ARGS: tuple[str, ...] = (KUBERNETES, ETCD, KWOK, HELM, GATEWAY_API, TRAEFIK, HELM_DOCS)

#: The build script's component that produces each artifact of :class:`Binaries` (others: its own name).
COMPONENT_OF: dict[str, str] = {
    "kube-apiserver": "kubernetes",
    "kube-controller-manager": "kubernetes",
    "kube-scheduler": "kubernetes",
    "kubectl": "kubernetes",
    "kwok-stages": "kwok",
    "gateway-api-crds": "gateway-api",
}


def cache_root() -> Path:
    """``~/.cache/mlendpoints`` (or ``$XDG_CACHE_HOME/mlendpoints``): binaries and dev clusters live here."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "mlendpoints"


def bin_cache() -> Path:
    """Binary cache; ``$MLENDPOINTS_BIN_CACHE`` overrides it (the build script honours the same variable)."""
    override = os.environ.get("MLENDPOINTS_BIN_CACHE")
    return Path(override).expanduser() if override else cache_root() / "bin"


def clusters_dir() -> Path:
    """Parent of the named clusters' state directories (``<this>/<name>/state.json``)."""
    return cache_root() / "clusters"


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every cached artifact the control plane and its tests need."""

    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    etcd: Path
    kwok: Path
    kwok_stages: Path
    helm: Path
    gateway_api_crds: Path
    traefik: Path
    helm_docs: Path

    def all(self) -> dict[str, Path]:
        """Name -> path, in build-script order (handy for checks and messages)."""
        return {
            "kube-apiserver": self.kube_apiserver,
            "kube-controller-manager": self.kube_controller_manager,
            "kube-scheduler": self.kube_scheduler,
            "kubectl": self.kubectl,
            "etcd": self.etcd,
            "kwok": self.kwok,
            "kwok-stages": self.kwok_stages,
            "helm": self.helm,
            "gateway-api-crds": self.gateway_api_crds,
            "traefik": self.traefik,
            "helm-docs": self.helm_docs,
        }

    def missing(self, only: Collection[str] = ()) -> list[str]:
        """Names of artifacts that are not in the cache yet (executables must be executable).

        ``only``: artifact names (keys of :meth:`all`) to look at; empty means all of them.
        """
        out = []
        for name, path in self.all().items():
            if only and name not in only:
                continue
            wants_exec = path.suffix != ".yaml"
            if not path.is_file() or (wants_exec and not os.access(path, os.X_OK)):
                out.append(name)
        return out


def binary_paths(cache: Path | None = None) -> Binaries:
    """Where the pinned versions live (or will live) in the cache; nothing is checked or built here."""
    root = cache if cache is not None else bin_cache()
    k8s = root / f"kubernetes-{KUBERNETES}"
    kwok = root / f"kwok-{KWOK}"
    return Binaries(
        kube_apiserver=k8s / "kube-apiserver",
        kube_controller_manager=k8s / "kube-controller-manager",
        kube_scheduler=k8s / "kube-scheduler",
        kubectl=k8s / "kubectl",
        etcd=root / f"etcd-{ETCD}" / "etcd",
        kwok=kwok / "kwok",
        kwok_stages=kwok / "stages.yaml",
        helm=root / f"helm-{HELM}" / "helm",
        gateway_api_crds=root / f"gateway-api-{GATEWAY_API}" / "standard-install.yaml",
        traefik=root / f"traefik-{TRAEFIK}" / "traefik",
        helm_docs=root / f"helm-docs-{HELM_DOCS}" / "helm-docs",
    )
