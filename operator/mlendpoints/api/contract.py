"""What the operator and the scoring runtime agree on: environment variable names, port, probe paths.

Plain constants only (no pydantic, no imports), so the scoring runtime can import this module
without pulling in the API models. ``render/env.py`` and ``render/probes.py`` write them into the
scoring container; ``runtime/config.py`` and ``runtime/app.py`` read and serve them. The data
collector's part of the contract is in :mod:`mlendpoints.api.collector`.
"""

from __future__ import annotations

#: The runtime's listen port (the container port named ``http``).
PORT = 5001
#: Liveness: the process answers at all. Readiness: the model is loaded.
LIVENESS_PATH = "/"
READINESS_PATH = "/readyz"
#: Azure ML's deployment header. On a request it pins the deployment (the route's pin rules); on
#: every runtime response it names the deployment that answered (MLENDPOINTS_DEPLOYMENT), as Azure
#: ML's endpoints do. The operator's gateway probe reads it to tell which backend answered.
DEPLOYMENT_HEADER = "azureml-model-deployment"

ENV_MODEL_TYPE = "MLENDPOINTS_MODEL_TYPE"
ENV_PORT = "MLENDPOINTS_PORT"
ENV_REQUEST_TIMEOUT_MS = "MLENDPOINTS_REQUEST_TIMEOUT_MS"
ENV_MAX_CONCURRENT_REQUESTS = "MLENDPOINTS_MAX_CONCURRENT_REQUESTS"
ENV_MAX_QUEUE_WAIT_MS = "MLENDPOINTS_MAX_QUEUE_WAIT_MS"
#: The name on the Open Inference Protocol routes (/v2/models/<name>/infer): the deployment's.
ENV_MODEL_NAME = "MLENDPOINTS_MODEL_NAME"
#: Where the endpoint's keys Secret is mounted (authMode key only).
ENV_AUTH_KEY_DIR = "MLENDPOINTS_AUTH_KEY_DIR"
#: The files in that folder: the keys Secret's keys, one key each.
KEY_FILES = ("primaryKey", "secondaryKey")
