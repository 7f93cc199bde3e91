"""A real local Kubernetes control plane for tests and demos, built from Go modules (no Docker).

``LocalCluster`` runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
(fake nodes whose Pods turn Running without containers) on loopback; ``ensure_binaries``
compiles and caches the binaries; ``mlendpoints dev ...`` (``cli``) drives both. The pytest
``cluster`` fixture in ``tests/conftest.py`` is built on this package. See docs/devcluster.md.
"""

from mlendpoints_dev.build import BuildError, ensure_binaries
from mlendpoints_dev.cluster import ClusterError, KubeCluster, KubectlError, LocalCluster
from mlendpoints_dev.versions import Binaries, binary_paths

__all__ = [
    "Binaries",
    "BuildError",
    "ClusterError",
    "KubeCluster",
    "KubectlError",
    "LocalCluster",
    "binary_paths",
    "ensure_binaries",
]
