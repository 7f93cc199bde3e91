"""`helm test` check: the mlendpoints CRDs are served and the operator answers its health probe.

Standard library only, so it runs in the operator image (and, in the chart's tests, on a
developer machine against a local control plane). Inputs, all from the environment:

* ``EXPECTED_RESOURCES``: comma-separated plurals that /apis/mlendpoints.io/v1alpha1 must serve;
* ``HEALTH_URL``: the operator's liveness URL (through the chart's Service);
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


def check_crds() -> None:
    token_file = os.environ.get("TOKEN_FILE", f"{SA_DIR}/token")
    ca_file = os.environ.get("CA_FILE", f"{SA_DIR}/ca.crt")
    expected = {r for r in os.environ["EXPECTED_RESOURCES"].split(",") if r}
    context = ssl.create_default_context(cafile=ca_file)

    def served() -> set:
        with open(token_file) as fh:
            token = fh.read().strip()
        request = urllib.request.Request(
            f"{_apiserver()}/apis/{GROUP_VERSION}", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            names = {r["name"] for r in json.load(response)["resources"]}
        missing = expected - names
        if missing:
            raise ValueError(f"not served: {sorted(missing)}")
        return names

    _retry(f"CRDs served at /apis/{GROUP_VERSION}", served)
    print(f"ok: {GROUP_VERSION} serves {', '.join(sorted(expected))}")


def check_health() -> None:
    url = os.environ["HEALTH_URL"]

    def healthy() -> int:
        with urllib.request.urlopen(url, timeout=5) as response:
            if response.status != 200:
                raise ValueError(f"HTTP {response.status}")
            return response.status

    _retry(f"operator health probe {url}", healthy)
    print(f"ok: {url} answers 200")


if __name__ == "__main__":
    check_crds()
    check_health()
