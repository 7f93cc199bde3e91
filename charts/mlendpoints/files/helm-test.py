"""`helm test` check: the mlendpoints CRDs are served and the operator answers its health probe.

Standard library only, so it runs in the operator image (and, in the chart's tests, on a
developer machine against a local control plane). Inputs, all from the environment:

* ``EXPECTED_RESOURCES``: comma-separated plurals that /apis/mlendpoints.io/v1alpha1 must serve;
* ``HEALTH_URL``: the operator's liveness URL (through the chart's Service);
* ``HEALTH_PROXY_PATH``: the same through the API server's service proxy (optional), for clusters
  where pods cannot use Service DNS names or ClusterIPs (the local dev cluster has neither);
  the check passes when either answers 200;
* ``APISERVER`` / ``TOKEN_FILE`` / ``CA_FILE``: default to the in-cluster ServiceAccount's;
* ``CHECK_ATTEMPTS`` / ``CHECK_DELAY``: retries (default 30 x 2 s: the operator may be starting).

Exit status 0 when both checks pass; 1 with a message on stderr otherwise.
"""

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
GROUP_VERSION = "mlendpoints.io/v1alpha1"


def _apiserver() -> str:
    if os.environ.get("APISERVER"):
        return os.environ["APISERVER"].rstrip("/")
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _retry(what, fn):
    attempts = int(os.environ.get("CHECK_ATTEMPTS", "30"))
    delay = float(os.environ.get("CHECK_DELAY", "2"))
    last = None
    for _ in range(attempts):
        try:
            return fn()
        except (OSError, ValueError, KeyError) as exc:
            last = exc
            time.sleep(delay)
    sys.exit(f"FAIL: {what}: {last}")


def _api_context() -> tuple[ssl.SSLContext, str]:
    token_file = os.environ.get("TOKEN_FILE", f"{SA_DIR}/token")
    ca_file = os.environ.get("CA_FILE", f"{SA_DIR}/ca.crt")
    with open(token_file) as fh:
        token = fh.read().strip()
    return ssl.create_default_context(cafile=ca_file), token


def _api_get(path: str, timeout: float):
    context, token = _api_context()
    request = urllib.request.Request(f"{_apiserver()}{path}", headers={"Authorization": f"Bearer {token}"})
    return urllib.request.urlopen(request, timeout=timeout, context=context)


def check_crds() -> None:
    expected = {r for r in os.environ["EXPECTED_RESOURCES"].split(",") if r}

    def served() -> set:
        with _api_get(f"/apis/{GROUP_VERSION}", timeout=10) as response:
            names = {r["name"] for r in json.load(response)["resources"]}
        missing = expected - names
        if missing:
            raise ValueError(f"not served: {sorted(missing)}")
        return names

    _retry(f"CRDs served at /apis/{GROUP_VERSION}", served)
    print(f"ok: {GROUP_VERSION} serves {', '.join(sorted(expected))}")


def check_health() -> None:
    url = os.environ["HEALTH_URL"]
    proxy_path = os.environ.get("HEALTH_PROXY_PATH", "")

    def answer(open_it) -> None:
        with open_it() as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")

    def healthy() -> str:
        try:
            answer(lambda: urllib.request.urlopen(url, timeout=5))
            return url
        except (OSError, ValueError) as direct:
            if not proxy_path:
                raise
            try:
                answer(lambda: _api_get(proxy_path, timeout=5))
            except (OSError, ValueError) as proxied:
                raise ValueError(f"{direct}; through the API server {proxy_path}: {proxied}") from None
            return f"{proxy_path} (the API server's service proxy)"

    where = _retry(f"operator health probe {url}", healthy)
    print(f"ok: {where} answers 200")


if __name__ == "__main__":
    check_crds()
    check_health()
