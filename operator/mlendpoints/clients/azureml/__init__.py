"""The only code that talks to Azure ML: a thin, synchronous adapter over ``azure-ai-ml``'s ``MLClient``.

Callers (``backends/azureml``) run every method in a worker thread (``Context.call``) and pass
plain dicts built by ``backends/azureml/mapping.py``; they get plain data back (:class:`Remote`,
:class:`JobInfo`) and one exception type, :class:`AzureFailure`, whose ``kind`` says what to do
(retry after ``retry_after``, wait, or stall with Azure's message). Nothing here blocks on an
LRO: ``begin_*`` returns at once and the pollers are kept (one per resource, so no daemon-thread
pile-up, guide §10.12) only to read the error of a failed operation.

The SDK's traps routed around (guide §10): ``MLClient`` writes ``AZUREML_CURRENT_CLOUD`` into the
process environment (restored after construction); ``invoke`` shares a module-level header dict
(reset under a lock, the deployment always named); validation errors arrive as ``MlException``
(mapped to ``invalid``); azure-core's own retries are off (``retry_total=0``) so a 429 comes back
to the reconciler, which requeues after ``Retry-After`` instead of sleeping in a thread; registry
model URIs trigger a discovery call that the SDK swallows (accepted, documented). Secrets are never
logged: credentials are cached by a sha256 of their inputs, and Azure messages carry none.
"""

from mlendpoints.clients.azureml.base import (
    AzureFailure,
    Credential,
    JobInfo,
    Remote,
    Workspace,
    make_credential,
    translate,
)
from mlendpoints.clients.azureml.client import AzureML

__all__ = [
    "AzureFailure",
    "AzureML",
    "Credential",
    "JobInfo",
    "Remote",
    "Workspace",
    "make_credential",
    "translate",
]
