"""A fake Azure Resource Manager + Azure ML workspace + Entra ID (AAD) server, over real HTTPS on loopback.

The real ``azure-ai-ml`` ``MLClient`` and ``azure-identity`` credentials are pointed at it with the
SDK's supported overrides (docs/azureml.md, "Testing without Azure"): ``AZUREML_DEV_URL_MFE`` (ARM
base URL), ``AZURE_AUTHORITY_HOST`` (token endpoint) and ``REQUESTS_CA_BUNDLE`` (the throwaway CA).

What it implements (paths as azure-ai-ml 1.35 sends them; ``WS`` = ``/subscriptions/{sub}/
resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}``):

* ``GET WS`` (any workspace exists, location ``eastus``);
* online endpoints and deployments, batch endpoints and deployments: ``PUT`` (201 +
  ``Azure-AsyncOperation``), ``GET``, list, ``DELETE`` (202 + ``Azure-AsyncOperation``), with
  ``provisioningState`` moving Creating/Updating/Deleting -> Succeeded (or Failed) after
  ``lro_seconds``; ``listKeys``/``regenerateKeys``/``token``; the operation-status resource;
* the data plane: ``POST /score/{ws}/{ep}`` (online scoring, key or bearer checked) and
  ``POST /batch/{ws}/{ep}/jobs`` (batch invoke: creates a job), and ``GET WS/jobs/{name}``
  (the job moves Queued -> Running -> Completed, or Failed when injected);
* Entra ID: OIDC discovery and ``/{tenant}/oauth2/v2.0/token`` for client secrets and federated
  (workload identity) assertions; ARM rejects bearer tokens it did not issue (401).

Every request is recorded (:attr:`FakeArm.requests`); :meth:`FakeArm.inject` makes matching
requests fail (409, 429 + Retry-After, 500, 401...) and :meth:`FakeArm.fail_next_lro` makes the
next operation on a path end ``Failed`` with an error body.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PROVIDER = "/providers/Microsoft.MachineLearningServices"
WS_RE = re.compile(
    r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)" + PROVIDER + r"/workspaces/([^/]+)", re.I
)
COLLECTIONS = ("onlineEndpoints", "batchEndpoints")
#: Versioned assets the SDK registers on the fly (anonymous environments, data-collector data assets).
ASSETS = ("environments", "data", "models", "codes")
LOCATION = "eastus"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)

    @property
    def api_version(self) -> str | None:
        return (self.query.get("api-version") or [None])[0]


@dataclass
class Injection:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


@dataclass
class Operation:
    path: str
    kind: str  # "put" or "delete"
    due: float
    error: dict[str, str] | None = None
    done: bool = False


@dataclass
class Job:
    name: str
    ws: str
    endpoint: str
    deployment: str | None
    body: Any
    created: float
    fail: dict[str, str] | None = None


@dataclass
class FakeArm:
    workdir: Path
    lro_seconds: float = 0.3
    job_seconds: float = 0.6
    #: Service principals the token endpoint accepts: client id -> secret.
    clients: dict[str, str] = field(default_factory=lambda: {"test-client": "test-secret"})
    requests: list[Recorded] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    ops: dict[str, Operation] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    injections: list[Injection] = field(default_factory=list)
    lro_failures: list[tuple[re.Pattern[str], dict[str, str]]] = field(default_factory=list)
    job_failures: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    ca_path: Path = field(init=False)
    port: int = 0
    #: Environment for an operator process using this fake (set by the integration fixture).
    operator_env: dict[str, str] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> FakeArm:
        cert, key = self._make_certs()
        from tests.azureml.fake_arm_http import Handler

        handler = type("BoundHandler", (Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name="fake-arm", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment that points azure-ai-ml and azure-identity at this server."""
        return {
            "AZUREML_DEV_URL_MFE": self.url,
            "AZURE_AUTHORITY_HOST": self.url,
            "REQUESTS_CA_BUNDLE": str(self.ca_path),
        }

    def _make_certs(self) -> tuple[Path, Path]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-arm-ca")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_path = self.workdir / "fake-arm-ca.pem"
        self.ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        cert_path, key_path = self.workdir / "fake-arm.pem", self.workdir / "fake-arm-key.pem"
        cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path

    # -- test controls ------------------------------------------------------------------------
    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        code: str = "InjectedFailure",
        message: str = "injected by the test",
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` and ``path_regex`` with ``status``."""
        with self.lock:
            self.injections.append(
                Injection(
                    method.upper(),
                    re.compile(path_regex, re.I),
                    status,
                    {"error": {"code": code, "message": message}},
                    headers or {},
                    times,
                )
            )

    def fail_next_lro(self, path_regex: str, code: str, message: str) -> None:
        """The next PUT on a matching resource ends ``Failed`` with this error."""
        with self.lock:
            self.lro_failures.append((re.compile(path_regex, re.I), {"code": code, "message": message}))

    def fail_next_job(self, endpoint: str, code: str, message: str) -> None:
        with self.lock:
            self.job_failures.append((endpoint, {"code": code, "message": message}))

    def calls(self, method: str | None = None, path_regex: str = "") -> list[Recorded]:
        pat = re.compile(path_regex, re.I)
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper()) and pat.search(r.path)
            ]

    def resource(self, path: str) -> dict[str, Any] | None:
        with self.lock:
            self.settle()
            res = self.resources.get(path.lower())
            return json.loads(json.dumps(res)) if res is not None else None

    def set_state(self, path: str, state: str) -> None:
        with self.lock:
            self.resources[path.lower()]["properties"]["provisioningState"] = state

    # -- state machine ------------------------------------------------------------------------
    def settle(self) -> None:
        now = time.monotonic()
        for op in self.ops.values():
            if op.done or op.due > now:
                continue
            op.done = True
            res = self.resources.get(op.path.lower())
            if op.kind == "delete":
                self.resources.pop(op.path.lower(), None)
                for child in [p for p in self.resources if p.startswith(op.path.lower() + "/")]:
                    self.resources.pop(child)
            elif res is not None:
                res["properties"]["provisioningState"] = "Failed" if op.error else "Succeeded"

    def job_status(self, job: Job) -> str:
        age = time.monotonic() - job.created
        if age < self.job_seconds / 3:
            return "Queued"
        if age < self.job_seconds:
            return "Running"
        return "Failed" if job.fail else "Completed"
