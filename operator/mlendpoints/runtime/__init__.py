"""The scoring runtime: the HTTP server inside every scoring pod (and ``mlendpoints serve``).

It serves one model per process, either an Azure ML scoring script (``init()`` / ``run()``) or an
MLflow model (``MLmodel`` file, no script), on ``/score``, the Open Inference Protocol v2 routes
and MLflow's ``/invocations``, with per-instance request limits, key auth, micro-batching,
``/swagger.json`` and Prometheus ``/metrics``. See ``docs/runtime.md``.

Module map (each small, one concept):

- ``config``: every setting, from env vars and ``mlendpoints serve`` flags;
- ``app``: the ASGI application (routing, auth, limits, metrics on one lean hot path);
- ``asgi``: request parsing, request ids and response writing; ``errors``: the exception -> status table;
- ``model``: which scorer serves, its background load and health state;
- ``scheduler`` + ``workers``: the bounded queue, concurrency slots, timeouts and micro-batching;
- ``script`` / ``azureml_compat``: the scoring-script loader and the ``azureml.contrib.services`` shim;
- ``mlflow_model`` / ``mlflow_inputs``: the MLflow loader and its request formats;
- ``v2``: Open Inference Protocol tensors; ``swagger`` + ``openapi_model``: the OpenAPI documents;
- ``auth``: key file watching; ``metrics``: the Prometheus registry; ``logs``: JSON logging;
- ``collector`` + ``collector_shape``: payload collection (sampled bodies, off the request path);
- ``server`` and ``cli``: uvicorn wiring and ``mlendpoints serve``.

It never imports the operator (``controller``, ``backends``, ``clients``, ``render``), kopf or the
Kubernetes client; an import-linter contract enforces that. Importing this package is cheap:
nothing heavy (numpy, pandas, mlflow) is imported until a model is loaded.
"""

from __future__ import annotations

from mlendpoints.runtime.app import create_app
from mlendpoints.runtime.config import Settings

__all__ = ["Settings", "create_app"]
