"""Install path tests: the Helm chart, the images, RBAC, and what GitOps tools read.

Inputs: ``charts/mlendpoints`` (rendered with the cached helm binary), ``Dockerfile``,
``docs/gitops/``; for cluster tests the session ``cluster`` (tests/conftest.py). Tests that use
``cluster`` are marked ``cluster`` automatically.

Outputs checked: rendered manifests; the chart installed with ``helm install`` into the real
control plane; and the operator process (``mlendpoints run``) started with **the chart's
ServiceAccount token** minted through the TokenRequest API, so every API call it makes is
authorized by the chart's RBAC and a missing rule fails as a 403.

The CRDs are cluster-scoped and the session fixture installed them with ``kubectl apply``;
:func:`adopt_crds` hands them to a release the way Helm documents (ownership label and
annotations), and :func:`restore_crds` puts the pristine ``crds/`` back afterwards.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import OperatorProcess

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "mlendpoints"
CRDS = REPO / "crds"
GROUP = "mlendpoints.io"
#: Log lines that mean the operator was denied something (kopf's own wording, and the API's).
READ_DENIED = re.compile(r"cannot (get|list|watch) resource|Not enough permissions")
FORBIDDEN = re.compile(r"\(403\)|\"code\":\s*403|\b403 Forbidden|[Ff]orbidden|Not enough permissions")


def helm_binary() -> Path:
    """The pinned helm, built by ``mlendpoints dev build`` (and by the first cluster test run)."""
    from mlendpoints_dev import binary_paths

    path = binary_paths().helm
    if not path.is_file():
        pytest.skip(f"helm is not built yet ({path}): run `mlendpoints dev build` or any cluster test")
    return path


@pytest.fixture(scope="session")
def helm() -> Path:
    return helm_binary()


def run_helm(helm: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180) -> str:
    proc = subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}{proc.stdout}")
    return proc.stdout


def values_file(tmp: Path, values: Mapping[str, Any] | None, name: str = "values.json") -> list[str]:
    """``--values FILE`` arguments for ``values`` (JSON is YAML), or nothing."""
    if not values:
        return []
    path = tmp / name
    path.write_text(json.dumps(values))
    return ["--values", str(path)]


def template(
    helm: Path,
    tmp: Path,
    values: Mapping[str, Any] | None = None,
    *,
    release: str = "mlep",
    namespace: str = "mlendpoints",
    chart: Path = CHART,
    extra: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """``helm template`` (hooks included), parsed into objects."""
    out = run_helm(
        helm, "template", release, str(chart), "--namespace", namespace, *values_file(tmp, values), *extra
    )
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(objects: Sequence[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: Sequence[Mapping[str, Any]], kind: str) -> Mapping[str, Any]:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container_env(deployment: Mapping[str, Any]) -> dict[str, str]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


# -- cluster helpers --------------------------------------------------------------------------------
def crd_names() -> list[str]:
    return sorted(p.stem for p in CRDS.glob("*.yaml"))


def adopt_crds(cluster: Any, release: str, namespace: str) -> None:
    """Mark the existing CRDs as the release's, so ``helm install`` adopts instead of refusing them.

    This is also the documented migration for users who installed ``crds/`` with kubectl first
    (docs/install.md).
    """
    names = crd_names()
    cluster.kubectl("label", "crd", *names, "app.kubernetes.io/managed-by=Helm", "--overwrite")
    cluster.kubectl(
        "annotate",
        "crd",
        *names,
        f"meta.helm.sh/release-name={release}",
        f"meta.helm.sh/release-namespace={namespace}",
        "--overwrite",
    )


def restore_crds(cluster: Any) -> None:
    """Put the generated ``crds/`` back exactly (``replace`` updates in place; it never deletes CRs)."""
    for path in sorted(CRDS.glob("*.yaml")):
        cluster.kubectl("replace", "-f", str(path))


def server_and_ca(cluster: Any) -> tuple[str, str]:
    """The API server URL and base64 CA of the cluster's kubeconfig (current context)."""
    config = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    context = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    entry = next(c for c in config["clusters"] if c["name"] == context["cluster"])["cluster"]
    return entry["server"], entry["certificate-authority-data"]


def token_kubeconfig(cluster: Any, path: Path, *, namespace: str, service_account: str) -> Path:
    """A kubeconfig whose only credential is a fresh token of ``service_account`` (TokenRequest API)."""
    token = cluster.kubectl(
        "create", "token", service_account, "-n", namespace, "--duration=3600s"
    ).stdout.strip()
    server, ca = server_and_ca(cluster)
    user = f"system:serviceaccount:{namespace}:{service_account}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "chart-test", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "chart-test", "context": {"cluster": "chart-test", "user": user}}],
        "current-context": "chart-test",
    }
    path.write_text(json.dumps(doc))
    path.chmod(0o600)
    return path


@dataclass
class Release:
    """A chart release in the cluster, and the operator running with its ServiceAccount's token."""

    cluster: Any
    helm: Path
    name: str
    namespace: str
    work: Path
    values: dict[str, Any]
    operator: OperatorProcess | None = None
    env: dict[str, str] = field(default_factory=dict)
    audit_mark: int = 0

    @property
    def fullname(self) -> str:
        return self.name if "mlendpoints" in self.name else f"{self.name}-mlendpoints"

    @property
    def service_account(self) -> str:
        return self.fullname

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def helm_args(self, *args: str) -> list[str]:
        return [*args, "--namespace", self.namespace, f"--kubeconfig={self.cluster.kubeconfig}"]

    def install(self, chart: Path = CHART, *, upgrade: bool = False) -> str:
        verb = ["upgrade", self.name, str(chart)] if upgrade else ["install", self.name, str(chart)]
        return run_helm(
            self.helm,
            *self.helm_args(*verb, *values_file(self.work, self.values), "--wait", "--timeout=120s"),
            env=self.cluster.env(),
        )

    def manifest(self) -> list[dict[str, Any]]:
        out = run_helm(self.helm, *self.helm_args("get", "manifest", self.name), env=self.cluster.env())
        return [d for d in yaml.safe_load_all(out) if d]

    def hooks(self) -> list[dict[str, Any]]:
        out = run_helm(self.helm, *self.helm_args("get", "hooks", self.name), env=self.cluster.env())
        return [d for d in yaml.safe_load_all(out) if d]

    def uninstall(self) -> str:
        return run_helm(
            self.helm,
            *self.helm_args("uninstall", self.name, "--wait", "--timeout=120s"),
            env=self.cluster.env(),
        )

    def start_operator(self) -> OperatorProcess:
        """Run ``mlendpoints run`` as the chart configures it, authenticated as the chart's ServiceAccount."""
        deployment = one(self.manifest(), "Deployment")
        # The chart's settings, except what must differ for a process on this machine.
        self.env = {
            k: v
            for k, v in container_env(deployment).items()
            if k.startswith("MLENDPOINTS_")
            and k not in {"MLENDPOINTS_METRICS_PORT", "MLENDPOINTS_LIVENESS_PORT", "MLENDPOINTS_BIND_ADDRESS"}
        }
        self.env["MLENDPOINTS_API_DISCOVERY_INTERVAL"] = "5"
        kubeconfig = token_kubeconfig(
            self.cluster,
            self.work / "sa.kubeconfig",
            namespace=self.namespace,
            service_account=self.service_account,
        )
        if self.cluster.is_local:
            self.audit_mark = self.cluster.audit_mark()
        self.operator = OperatorProcess(
            kubeconfig=kubeconfig, log_path=self.work / "operator.log", user=self.user
        )
        with pytest.MonkeyPatch.context() as mp:
            for key, value in self.env.items():
                mp.setenv(key, value)
            self.operator.start(timeout=90)
        return self.operator

    def stop_operator(self) -> None:
        if self.operator is not None:
            self.operator.stop()

    def restart_operator(self) -> None:
        assert self.operator is not None
        self.operator.stop()
        with pytest.MonkeyPatch.context() as mp:
            for key, value in self.env.items():
                mp.setenv(key, value)
            self.operator.start(timeout=90)

    def permission_problems(self, namespaces: Sequence[str] = ()) -> list[str]:
        """Requests the operator was denied, in the release's namespace, ``namespaces`` or cluster-wide.

        On our local cluster, denied writes come from the audit log (which names the namespace,
        so objects left behind by other tests in terminating namespaces, where the API refuses
        new content with a 403 too, do not count), denied reads from the operator's log. Elsewhere
        every Forbidden in the log counts, except writes into terminating namespaces.
        """
        assert self.operator is not None
        path = self.operator.log_path
        lines = (path.read_text(errors="replace") if path.exists() else "").splitlines()
        if not self.cluster.is_local:
            return [line for line in lines if FORBIDDEN.search(line) and "being terminated" not in line]
        scope = {self.namespace, *namespaces}
        problems = [line for line in lines if READ_DENIED.search(line)]
        for event in self.cluster.audit_events(self.audit_mark, user=self.user):
            if (event.get("responseStatus") or {}).get("code") != 403:
                continue
            namespace = (event.get("objectRef") or {}).get("namespace")
            if namespace and namespace not in scope:
                continue
            problems.append(f"audit: 403 on {event.get('verb')} {event.get('requestURI')}")
        return problems

    def writes(self) -> list[dict[str, Any]]:
        """Write requests the operator made (audit log), since it started."""
        return list(self.cluster.audit_events(self.audit_mark, user=self.user))


@contextlib.contextmanager
def installed(
    cluster: Any, helm: Path, work: Path, *, name: str, namespace: str, values: dict[str, Any]
) -> Iterator[Release]:
    """Install the chart (adopting the session's CRDs), start the operator with its token; undo all after."""
    release = Release(cluster=cluster, helm=helm, name=name, namespace=namespace, work=work, values=values)
    adopt_crds(cluster, name, namespace)
    try:
        release.install()
        release.start_operator()
        yield release
    finally:
        release.stop_operator()
        if release.operator is not None:
            print(f"operator log: {release.operator.log_path}")
        subprocess.run(
            [str(helm), *release.helm_args("uninstall", name, "--ignore-not-found", "--timeout=60s")],
            capture_output=True,
            env=cluster.env(),
            timeout=120,
            check=False,
        )
        restore_crds(cluster)


def delete_namespace(cluster: Any, name: str) -> None:
    """Delete and wait until it is gone, so a cluster-wide operator of a later test never meets its objects."""
    cluster.kubectl(
        "delete",
        "namespace",
        name,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=120s",
        check=False,
        timeout=150,
    )


def create_namespace(cluster: Any, name: str) -> str:
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"mlendpoints.io/test": "true"}},
        }
    )
    cluster.wait_for_default_serviceaccount(name)
    return name


def scoring_manifests(
    namespace: str, endpoint: str = "ep1", deployments: Sequence[str] = ("blue",), **ep_spec: Any
) -> list[dict[str, Any]]:
    """A ConfigMap with a scoring script, an OnlineEndpoint and its OnlineDeployments."""
    api = f"{GROUP}/v1alpha1"
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "score", "namespace": namespace},
            "data": {"score.py": "def init():\n    pass\n\n\ndef run(raw):\n    return raw\n"},
        },
        {
            "apiVersion": api,
            "kind": "OnlineEndpoint",
            "metadata": {"name": endpoint, "namespace": namespace},
            "spec": ep_spec or {"traffic": {deployments[0]: 100}},
        },
    ]
    for name in deployments:
        objects.append(
            {
                "apiVersion": api,
                "kind": "OnlineDeployment",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "endpointName": endpoint,
                    "model": {"path": "https://models.example.com/m/1/"},
                    "codeConfiguration": {"configMap": {"name": "score"}, "scoringScript": "score.py"},
                },
            }
        )
    return objects
