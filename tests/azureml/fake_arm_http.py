"""The HTTP side of the fake Azure server (see fake_arm.py): routing, ARM resources, Entra ID, data plane."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.azureml.fake_arm import (
    ASSETS,
    COLLECTIONS,
    LOCATION,
    PROVIDER,
    WS_RE,
    FakeArm,
    Job,
    Operation,
    Recorded,
)


def _arm_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class Handler(BaseHTTPRequestHandler):
    fake: FakeArm
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing -----------------------------------------------------------------------------
    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        fake = self.fake
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype and raw:
            body: Any = json.loads(raw)
        elif "x-www-form-urlencoded" in ctype:
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        else:
            body = raw.decode(errors="replace") if raw else None
        rec = Recorded(self.command, split.path, parse_qs(split.query), dict(self.headers.items()), body)
        with fake.lock:
            fake.requests.append(rec)
            for inj in fake.injections:
                if inj.times > 0 and inj.method == self.command and inj.pattern.search(split.path):
                    inj.times -= 1
                    self._send(inj.status, inj.body, inj.headers)
                    return
            fake.settle()
            status, out, headers = self._route(rec)
        self._send(status, out, headers)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _handle

    # -- routing ------------------------------------------------------------------------------
    def _route(self, rec: Recorded) -> tuple[int, Any, dict[str, str]]:
        path = rec.path
        if "/oauth2/v2.0/token" in path or path.endswith("/.well-known/openid-configuration"):
            return self._aad(rec)
        if path.startswith("/common/discovery/instance"):
            return (
                200,
                {
                    "tenant_discovery_endpoint": f"{self.fake.url}/common/v2.0/.well-known/openid-configuration"
                },
                {},
            )
        auth = rec.headers.get("Authorization", "")
        if path.startswith("/score/"):
            return self._score(rec, auth)
        if not auth.startswith("Bearer ") or auth[7:] not in self.fake.tokens:
            return 401, _arm_error("InvalidAuthenticationToken", "The access token is invalid."), {}
        if path.startswith("/batch/"):
            return self._batch_invoke(rec)
        if "/mfeOperationsStatus/" in path:
            op = self.fake.ops.get(path.rsplit("/", 1)[1])
            if op is None:
                return 404, _arm_error("NotFound", "no such operation"), {}
            if not op.done:
                return 200, {"status": "InProgress"}, {"Retry-After": "0"}
            if op.error:
                return 200, {"status": "Failed", "error": op.error}, {}
            return 200, {"status": "Succeeded"}, {}
        m = WS_RE.match(path)
        if m is None:
            return 404, _arm_error("NotFound", f"no route for {path}"), {}
        ws_path, rest = m.group(0), path[m.end() :]
        if rest == "":
            return 200, self._workspace(ws_path, m.group(3)), {}
        if rest.startswith("/jobs/"):
            return self._job(ws_path, rest.split("/")[2])
        return self._resource(rec, ws_path, rest)

    def _workspace(self, ws_path: str, name: str) -> dict[str, Any]:
        return {
            "id": ws_path,
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces",
            "location": LOCATION,
            "properties": {"discoveryUrl": f"{self.fake.url}/discovery", "mlFlowTrackingUri": ""},
        }

    def _aad(self, rec: Recorded) -> tuple[int, Any, dict[str, str]]:
        tenant = rec.path.strip("/").split("/")[0]
        base = f"{self.fake.url}/{tenant}"
        if rec.path.endswith("openid-configuration"):
            return (
                200,
                {
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/v2.0",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                },
                {},
            )
        form = rec.body if isinstance(rec.body, dict) else {}
        client = form.get("client_id", "")
        ok = (client in self.fake.clients and form.get("client_secret") == self.fake.clients[client]) or (
            form.get("client_assertion_type", "").endswith("jwt-bearer")
            and bool(form.get("client_assertion"))
        )
        if not ok:
            return (
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                    "error_codes": [7000215],
                },
                {},
            )
        token = "tok-" + secrets.token_hex(16)
        self.fake.tokens.add(token)
        return (
            200,
            {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token},
            {},
        )

    # -- ARM resources ------------------------------------------------------------------------
    def _resource(self, rec: Recorded, ws_path: str, rest: str) -> tuple[int, Any, dict[str, str]]:
        fake = self.fake
        parts = rest.strip("/").split("/")
        if len(parts) == 4 and parts[0] in ASSETS and parts[2] == "versions":
            return self._asset(rec, ws_path + rest)
        if not parts or parts[0] not in COLLECTIONS:
            return 404, _arm_error("NotFound", f"unknown resource {rest}"), {}
        action = None
        if len(parts) in (3, 5) and parts[-1] in (
            "listKeys",
            "listkeys",
            "regenerateKeys",
            "token",
            "getLogs",
        ):
            action = parts.pop()
        full = ws_path + "/" + "/".join(parts)
        key = full.lower()
        if len(parts) in (1, 3):  # list
            if rec.method != "GET":
                return 405, _arm_error("MethodNotAllowed", rec.method), {}
            prefix = key + "/"
            items = [
                r for p, r in fake.resources.items() if p.startswith(prefix) and "/" not in p[len(prefix) :]
            ]
            return 200, {"value": items}, {}
        if action is not None:
            return self._action(rec, key, parts, action)
        if rec.method == "GET":
            res = fake.resources.get(key)
            if res is None:
                return 404, _arm_error("UserError", f"{parts[-2]} {parts[-1]} not found"), {}
            return 200, res, {}
        if rec.method == "PUT":
            return self._put(rec, ws_path, full, parts)
        if rec.method == "DELETE":
            res = fake.resources.get(key)
            if res is None:
                return 204, None, {}
            res["properties"]["provisioningState"] = "Deleting"
            op = self._operation(full, "delete", rec)
            return 202, None, {"Azure-AsyncOperation": op, "Location": op, "Retry-After": "0"}
        return 405, _arm_error("MethodNotAllowed", rec.method), {}

    def _asset(self, rec: Recorded, full: str) -> tuple[int, Any, dict[str, str]]:
        key = full.lower()
        if rec.method == "PUT":
            body = rec.body if isinstance(rec.body, dict) else {}
            self.fake.resources[key] = {
                "id": full,
                "name": full.rsplit("/", 1)[1],
                "properties": body.get("properties") or {},
            }
            return 201, self.fake.resources[key], {}
        res = self.fake.resources.get(key)
        return (200, res, {}) if res is not None else (404, _arm_error("UserError", "asset not found"), {})

    def _operation(self, path: str, kind: str, rec: Recorded, error: dict[str, str] | None = None) -> str:
        sub = path.split("/")[2]
        op_id = "op" + uuid.uuid4().hex
        self.fake.ops[op_id] = Operation(path, kind, time.monotonic() + self.fake.lro_seconds, error)
        return f"{self.fake.url}/subscriptions/{sub}{PROVIDER}/locations/{LOCATION}/mfeOperationsStatus/{op_id}?api-version={rec.api_version}"

    def _put(
        self, rec: Recorded, ws_path: str, full: str, parts: list[str]
    ) -> tuple[int, Any, dict[str, str]]:
        fake = self.fake
        key = full.lower()
        body = rec.body if isinstance(rec.body, dict) else {}
        existing = fake.resources.get(key)
        if existing is not None and existing["properties"].get("provisioningState") in (
            "Creating",
            "Updating",
            "Deleting",
        ):
            return 409, _arm_error("Conflict", "An operation is already in progress on this resource."), {}
        if len(parts) == 4 and (ws_path + "/" + "/".join(parts[:2])).lower() not in fake.resources:
            return 404, _arm_error("UserError", f"endpoint {parts[1]} not found"), {}
        error = None
        for i, (pat, err) in enumerate(fake.lro_failures):
            if pat.search(full):
                error = err
                fake.lro_failures.pop(i)
                break
        props = dict(body.get("properties") or {})
        props["provisioningState"] = "Updating" if existing else "Creating"
        ws_name = ws_path.rsplit("/", 1)[1]
        if len(parts) == 2:
            if parts[0] == "onlineEndpoints":
                props["scoringUri"] = f"{fake.url}/score/{ws_name}/{parts[1]}"
                props["swaggerUri"] = f"{fake.url}/score/{ws_name}/{parts[1]}/swagger.json"
                fake.keys.setdefault(key, (secrets.token_hex(16), secrets.token_hex(16)))
            else:
                props["scoringUri"] = f"{fake.url}/batch/{ws_name}/{parts[1]}/jobs"
                props["swaggerUri"] = f"{fake.url}/batch/{ws_name}/{parts[1]}/swagger.json"
        elif parts[0] == "onlineEndpoints":
            props.setdefault("scaleSettings", {"scaleType": "Default"})
        typ = {2: parts[0], 4: parts[0] + "/deployments"}[len(parts)]
        res = {
            "id": full,
            "name": parts[-1],
            "type": f"Microsoft.MachineLearningServices/workspaces/{typ}",
            "location": body.get("location", LOCATION),
            "tags": body.get("tags") or {},
            "properties": props,
        }
        for extra in ("identity", "sku", "kind"):
            if extra in body:
                res[extra] = body[extra]
        fake.resources[key] = res
        op = self._operation(full, "put", rec, error)
        return 201, res, {"Azure-AsyncOperation": op, "Retry-After": "0"}

    def _action(
        self, rec: Recorded, key: str, parts: list[str], action: str
    ) -> tuple[int, Any, dict[str, str]]:
        fake = self.fake
        if key not in fake.resources:
            return 404, _arm_error("UserError", f"{parts[-1]} not found"), {}
        if action.lower() == "listkeys":
            primary, secondary = fake.keys.setdefault(key, (secrets.token_hex(16), secrets.token_hex(16)))
            return 200, {"primaryKey": primary, "secondaryKey": secondary}, {}
        if action == "regenerateKeys":
            primary, secondary = fake.keys[key]
            which = (rec.body or {}).get("keyType", "Primary")
            fake.keys[key] = (
                (secrets.token_hex(16), secondary) if which == "Primary" else (primary, secrets.token_hex(16))
            )
            return 200, None, {}
        if action == "token":
            return (
                200,
                {"accessToken": "aml-" + secrets.token_hex(8), "tokenType": "Bearer", "expiryTimeUtc": 0},
                {},
            )
        return 200, {"content": "fake logs\n"}, {}

    # -- data plane ---------------------------------------------------------------------------
    def _score(self, rec: Recorded, auth: str) -> tuple[int, Any, dict[str, str]]:
        _, _, ws, ep = rec.path.split("/")[:4]
        matches = [k for k in self.fake.keys if k.endswith(f"/workspaces/{ws}/onlineendpoints/{ep}".lower())]
        valid = {k for m in matches for k in self.fake.keys[m]} | self.fake.tokens
        if not auth.startswith("Bearer ") or auth[7:] not in valid:
            return 401, {"message": "invalid key"}, {}
        return (
            200,
            {"endpoint": ep, "deployment": rec.headers.get("azureml-model-deployment"), "echo": rec.body},
            {},
        )

    def _batch_invoke(self, rec: Recorded) -> tuple[int, Any, dict[str, str]]:
        _, _, ws, ep = rec.path.split("/")[:5][:4]
        fake = self.fake
        name = ((rec.body or {}).get("properties") or {}).get("name") or f"batchjob-{uuid.uuid4()}"
        if name in fake.jobs:
            return 409, {"error": {"code": "UserError", "message": f"job {name} already exists"}}, {}
        fail = None
        for i, (want, err) in enumerate(fake.job_failures):
            if want == ep:
                fail = err
                fake.job_failures.pop(i)
                break
        ws_path = next(
            (
                r["id"].rsplit("/batchEndpoints/", 1)[0]
                for r in fake.resources.values()
                if r["id"].lower().endswith(f"/workspaces/{ws}/batchendpoints/{ep}".lower())
            ),
            None,
        )
        if ws_path is None:
            return 404, {"error": {"code": "NotFound", "message": f"batch endpoint {ep} not found"}}, {}
        job = Job(
            name, ws_path, ep, rec.headers.get("azureml-model-deployment"), rec.body, time.monotonic(), fail
        )
        fake.jobs[name] = job
        return 200, self._job_body(job), {}

    def _job(self, ws_path: str, name: str) -> tuple[int, Any, dict[str, str]]:
        job = self.fake.jobs.get(name)
        if job is None or job.ws.lower() != ws_path.lower():
            return 404, _arm_error("UserError", f"job {name} not found"), {}
        return 200, self._job_body(job), {}

    def _job_body(self, job: Job) -> dict[str, Any]:
        status = self.fake.job_status(job)
        props = (job.body or {}).get("properties") or {}
        outputs = props.get("outputData") or {}
        body: dict[str, Any] = {
            "id": f"{job.ws}/jobs/{job.name}",
            "name": job.name,
            "type": "Microsoft.MachineLearningServices/workspaces/jobs",
            "properties": {
                "jobType": "Pipeline",
                "status": status,
                "displayName": job.name,
                "experimentName": job.endpoint,
                "properties": {"azureml.deploymentName": job.deployment or ""},
                "tags": {},
                "inputs": {
                    k: {"jobInputType": "uri_folder", "uri": v.get("uri")}
                    for k, v in (props.get("inputData") or {}).items()
                },
                "outputs": {
                    k: {"jobOutputType": "uri_folder", "uri": v.get("uri")} for k, v in outputs.items()
                },
                "jobs": {},
                "services": {
                    "Studio": {
                        "jobServiceType": "Studio",
                        "endpoint": f"https://ml.azure.com/runs/{job.name}?wsid={job.ws}",
                    }
                },
                "settings": {},
            },
        }
        return body
