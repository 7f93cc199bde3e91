"""azureml-inference-server-http's settings (environment variables) and what mlendpoints does with each.

Users move deployments from Azure ML with these variables in ``environmentVariables``. The
scoring runtime honours every one that has an equivalent (:data:`HONOURED`) and the operator and
the runtime warn about the rest (:data:`IGNORED`: log line at start-up, and a message in the
OnlineDeployment's ``Ready`` condition), so nothing is dropped silently. The list is the one
azmlinfsrv 1.5.1 reads (``azureml_inference_server_http/constants.py``, ``server/config.py``).

Pure standard library: imported by the runtime (``mlendpoints.runtime.config``) and by the
renderer (``mlendpoints.render.env``), which must not depend on each other.
"""

from __future__ import annotations

from collections.abc import Mapping

#: variable -> what the runtime does with it
HONOURED: dict[str, str] = {
    "AZUREML_MODEL_DIR": "the model folder",
    "AZUREML_ENTRY_SCRIPT": "the scoring script",
    "AML_APP_ROOT": "the code folder (alias of AZUREML_SOURCE_DIRECTORY)",
    "AZUREML_SOURCE_DIRECTORY": "the code folder",
    "WORKER_COUNT": "run() calls in flight (worker threads, not processes)",
    "SCORING_TIMEOUT_MS": "scoring timeout (the smaller of it and requestSettings.requestTimeoutMs)",
    "WORKER_TIMEOUT": "seconds a stuck call may hold every slot before liveness fails",
    "WORKER_PRELOAD": "always on: the one server process loads the model once",
    "AZUREML_LOG_LEVEL": "log level",
    "SERVICE_NAME": "title of /swagger.json",
    "SERVICE_VERSION": "version of /swagger.json",
}

#: variable -> why it has no effect here
IGNORED: dict[str, str] = {
    "SERVICE_PATH_PREFIX": "the route prefix comes from the endpoint's routing",
    "SERVER_PORT": "the runtime listens on the port the operator sets (5001), which the probes use",
    "HEALTH_PORT": "liveness and readiness are served on the scoring port",
    "SEPERATE_HEALTH_ENDPOINT": "liveness and readiness are served on the scoring port",
    "AML_APP_INSIGHTS_ENABLED": "no Application Insights; use /metrics and the JSON logs",
    "AML_APP_INSIGHTS_KEY": "no Application Insights; use /metrics and the JSON logs",
    "APP_INSIGHTS_LOG_RESPONSE_ENABLED": "no Application Insights; use spec.dataCollector",
    "AML_MDC_STORAGE_ENABLED": "use spec.dataCollector for payload logging",
    "AML_CORS_ORIGINS": "CORS is not served; put it in the Gateway/Ingress in front",
    "AZUREML_CONFIG_FILE": "settings come from environment variables only",
    "AZUREML_DEBUG_PORT": "debugpy is not started",
    "HTTP_X_MS_SERVER_VERSION": "no x-ms-server-version header",
    "SERVER_VERSION_LOG_RESPONSE_ENABLED": "no x-ms-server-version header",
}


def ignored(environ: Mapping[str, str]) -> list[str]:
    """``"NAME (why)"`` for each azmlinfsrv setting in ``environ`` that has no effect, sorted."""
    return [f"{name} ({IGNORED[name]})" for name in sorted(IGNORED) if name in environ]
