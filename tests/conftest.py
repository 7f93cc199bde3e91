"""Session-wide fixtures: a real Kubernetes cluster and a namespace per test.

``cluster`` is a :class:`mlendpoints_dev.KubeCluster`: by default a
:class:`~mlendpoints_dev.LocalCluster` (etcd + kube-apiserver + kube-controller-manager +
kube-scheduler + kwok on loopback, built from Go modules, no Docker) started under a temporary
state directory and stopped at the end of the session; with ``MLENDPOINTS_TEST_KUBECONFIG`` set,
the existing cluster it points at (e.g. kind). Either way it has our CRDs and the Gateway API
standard CRDs installed and Established, once per session.

Pure unit tests never pay for any of this: the cluster starts only when a test requests it, and
the binaries are built (cold: ~8 min measured, up to 25) only when a selected test needs the local cluster --
at collection end, outside any per-test timeout.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mlendpoints_dev import KubeCluster

REPO = Path(__file__).resolve().parent.parent
INTEGRATION_DIR = REPO / "tests" / "integration"
#: Fixtures that need a cluster; a test using any of them is marked ``cluster``.
CLUSTER_FIXTURES = frozenset({"cluster", "namespace", "kube_env"})
EXTERNAL_ENV = "MLENDPOINTS_TEST_KUBECONFIG"
_BUILD_ERROR = pytest.StashKey[str]()


def _needs_cluster(item: pytest.Item) -> bool:
    return bool(CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark everything under tests/integration/, and anything using a cluster fixture, ``cluster``."""
    for item in items:
        if INTEGRATION_DIR in Path(str(item.path)).parents or _needs_cluster(item):
            item.add_marker(pytest.mark.cluster)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build missing binaries before the first test if a selected test will start the local cluster.

    Done here rather than in the fixture so a cold build is not killed by pytest-timeout, and
    so its progress is visible (it streams to stderr).
    """
    if os.environ.get(EXTERNAL_ENV) or session.config.option.collectonly:
        return
    if not any(_needs_cluster(item) for item in session.items):
        return
    from mlendpoints_dev import BuildError, binary_paths, ensure_binaries

    if binary_paths().missing():
        capture = session.config.pluginmanager.getplugin("capturemanager")
        if capture is not None:
            capture.suspend_global_capture(in_=False)
        try:
            ensure_binaries()
        except BuildError as e:
            # Unit tests still run; every cluster test errors with this message (no second build).
            session.config.stash[_BUILD_ERROR] = str(e)
        finally:
            if capture is not None:
                capture.resume_global_capture()


def _external_cluster(kubeconfig: Path) -> KubeCluster:
    """Wrap an existing cluster, preferring our cached kubectl/helm and falling back to PATH."""
    from mlendpoints_dev import KubeCluster, binary_paths, ensure_binaries

    if not kubeconfig.is_file():
        raise pytest.UsageError(f"{EXTERNAL_ENV}={kubeconfig}: no such file")
    cached = binary_paths()

    def find(name: str, path: Path) -> Path | None:
        if path.is_file():
            return path
        found = shutil.which(name)
        return Path(found) if found else None

    kubectl, helm = find("kubectl", cached.kubectl), find("helm", cached.helm)
    if kubectl is None or helm is None:
        built = ensure_binaries()
        kubectl, helm = kubectl or built.kubectl, helm or built.helm
    cluster = KubeCluster(kubeconfig, kubectl=kubectl, helm=helm)
    ready = cluster.kubectl("get", "--raw", "/readyz", check=False, timeout=30)
    if ready.returncode != 0:
        raise RuntimeError(f"{EXTERNAL_ENV}={kubeconfig}: cluster not reachable: {ready.stderr.strip()}")
    return cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[KubeCluster]:
    """A ready cluster with the mlendpoints and Gateway API CRDs installed (see module docstring).

    Interface (same for local and external clusters): ``kubeconfig`` (Path), ``kubectl(*args,
    check=True, input=None, timeout=120)``, ``kubectl_json(*args)``, ``apply(manifest, *args)``,
    ``helm`` (Path), ``env()`` (for subprocesses), ``api_client()`` (a new
    ``kubernetes.client.ApiClient``), ``audit_log`` (Path, or None for external clusters),
    ``is_local``. A local cluster also has ``audit_events()``, ``audit_mark()``,
    ``make_kubeconfig()``, ``logs()``, ``bin()``.
    """
    from mlendpoints_dev import LocalCluster
    from mlendpoints_dev.install import install_crds, install_gateway_api

    external = os.environ.get(EXTERNAL_ENV)
    local: LocalCluster | None = None
    if external:
        kc = _external_cluster(Path(external).expanduser())
    else:
        build_error = pytestconfig.stash.get(_BUILD_ERROR, None)
        if build_error is not None:
            raise RuntimeError(f"the local control plane's binaries could not be built: {build_error}")
        state_dir = tmp_path_factory.mktemp("devcluster")
        # die_with_parent: if pytest is killed hard, the control plane goes with it.
        local = LocalCluster(f"pytest-{os.getpid()}", state_dir=state_dir, die_with_parent=True)
        kc = local.start()
    try:
        install_crds(kc, REPO / "crds")
        install_gateway_api(kc)
        yield kc
    finally:
        if local is not None:
            local.stop()


def namespace_name(test_name: str) -> str:
    """A unique, DNS-1123-label-safe namespace name (<= 63 chars) derived from a test's name."""
    suffix = secrets.token_hex(3)
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    slug = slug[: 63 - len("t--") - len(suffix)].strip("-") or "test"
    return f"t-{slug}-{suffix}"


@pytest.fixture
def namespace(cluster: KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test (its ``default`` ServiceAccount exists); deleted afterwards, not awaited."""
    name = namespace_name(request.node.name)
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"mlendpoints.io/test": "true"}},
        }
    )
    cluster.wait_for_default_serviceaccount(name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def kube_env(cluster: KubeCluster, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point ``KUBECONFIG`` (and PATH, for kubectl/helm) at the cluster for this test only.

    For code that reads the environment itself, e.g. ``kopf.testing.KopfRunner``. Returns the
    environment to pass to subprocesses.
    """
    env = cluster.env()
    monkeypatch.setenv("KUBECONFIG", env["KUBECONFIG"])
    monkeypatch.setenv("PATH", env["PATH"])
    return env
