"""The scoring container's environment: the runtime contract first, then the user's variables.

The scoring runtime (``mlendpoints serve``) is configured only through these variables, so this
module writes the contract between operator and runtime (names in :mod:`mlendpoints.api.contract`):

=================================== ===========================================================
``AZUREML_MODEL_DIR``               ``spec.modelMountPath`` (where the model files are)
``MLENDPOINTS_MODEL_TYPE``          ``mlflow`` or ``custom`` (triton served by the runtime: custom)
``MLENDPOINTS_PORT``                5001, the container port named ``http``
``MLENDPOINTS_REQUEST_TIMEOUT_MS``  ``requestSettings.requestTimeoutMs``
``MLENDPOINTS_MAX_CONCURRENT_REQUESTS`` ``requestSettings.maxConcurrentRequestsPerInstance``
``MLENDPOINTS_MAX_QUEUE_WAIT_MS``   ``requestSettings.maxQueueWaitMs``
``MLENDPOINTS_MODEL_NAME``          the deployment name, for the v2 routes
``AZUREML_SOURCE_DIRECTORY``,       ``/var/azureml-app/code`` (with codeConfiguration; custom containers too)
``AML_APP_ROOT``
``AZUREML_ENTRY_SCRIPT``            ``codeConfiguration.scoringScript`` (custom containers too)
``MLENDPOINTS_AUTH_KEY_DIR``        the keys Secret's mount (authMode key only)
``MLENDPOINTS_DATA_COLLECTOR_*``    ``ENABLED``, ``SAMPLING_RATE``, ``COLLECTIONS``, ``ROLLING_RATE``,
                                    ``BINARY``, ``DESTINATION`` (when enabled; names in
                                    :mod:`mlendpoints.api.collector`)
``MLENDPOINTS_ENDPOINT``/``_DEPLOYMENT`` names, for logs and metrics
``PYTHONPATH``                      the pip-install target first (with extra packages)
=================================== ===========================================================

``HOME=/tmp`` follows as a default for the runtime container (the root filesystem is read-only);
unlike the contract, a ``HOME`` in ``spec.environmentVariables`` replaces it.

User variables (``spec.environmentVariables``) follow in their written order. On a name clash
the contract wins (the runtime would misbehave otherwise); the dropped names are returned so the
Deployment can carry them in an annotation. ``$(`` in user values is escaped, so values reach the
container literally, as on Azure ML (Kubernetes would otherwise expand ``$(VAR)`` references).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlendpoints import azmlinfsrv
from mlendpoints.api import collector as dc
from mlendpoints.api import contract as api_contract
from mlendpoints.api.v1alpha1.online import OnlineDeployment
from mlendpoints.render import packages
from mlendpoints.render.types import Obj

#: The runtime's listening port (container port ``http``).
RUNTIME_PORT = api_contract.PORT
CODE_DIR = "/var/azureml-app/code"
KEYS_DIR = "/var/run/secrets/mlendpoints/keys"
DATA_COLLECTOR_DIR = "/var/azureml-app/data-collector"
#: HOME of the runtime container unless the user sets one (the writable /tmp emptyDir).
TMP_HOME = "/tmp"  # noqa: S108 -- a container path


@dataclass(frozen=True)
class EnvPlan:
    """Inputs that are decided elsewhere (pod layout) but show up in the environment."""

    runtime: bool
    """The runtime image serves the model (no custom container)."""
    auth_keys: bool
    """The keys Secret is mounted at :data:`KEYS_DIR`."""
    pip_packages: bool
    """Packages are installed into :data:`packages.SITE_PACKAGES`."""
    data_collector_destination: str | None = None
    """Destination as the runtime should see it (a pvc:// destination becomes a local path)."""


def container_env(dep: OnlineDeployment, *, endpoint: str, plan: EnvPlan) -> tuple[list[Obj], list[str]]:
    """``(env, ignored)``: the container's env list and the user variables dropped for clashing."""
    spec = dep.spec
    contract: dict[str, str] = {}
    if spec.model is not None:
        contract["AZUREML_MODEL_DIR"] = spec.model_mount_path
    if plan.runtime:
        if spec.model is not None:
            contract[api_contract.ENV_MODEL_TYPE] = "mlflow" if spec.model.type == "mlflow" else "custom"
        req = spec.request_settings
        contract |= {
            api_contract.ENV_PORT: str(RUNTIME_PORT),
            api_contract.ENV_REQUEST_TIMEOUT_MS: str(req.request_timeout_ms),
            api_contract.ENV_MAX_CONCURRENT_REQUESTS: str(req.max_concurrent_requests_per_instance),
            api_contract.ENV_MAX_QUEUE_WAIT_MS: str(req.max_queue_wait_ms),
            # The name on the Open Inference Protocol routes (/v2/models/<deployment>/infer).
            api_contract.ENV_MODEL_NAME: dep.metadata.name,
        }
    if spec.code_configuration is not None:
        # Azure ML's variables, for the runtime and for custom containers alike: Azure's own
        # server (azmlinfsrv) in an Azure inference image finds the script through them.
        contract["AZUREML_SOURCE_DIRECTORY"] = CODE_DIR
        contract["AML_APP_ROOT"] = CODE_DIR
        contract["AZUREML_ENTRY_SCRIPT"] = spec.code_configuration.scoring_script
    if plan.auth_keys:
        contract[api_contract.ENV_AUTH_KEY_DIR] = KEYS_DIR
    contract |= _collector_env(dep, plan)
    contract[dc.ENV_ENDPOINT] = endpoint
    contract[dc.ENV_DEPLOYMENT] = dep.metadata.name
    if plan.pip_packages:
        user_path = spec.environment_variables.get("PYTHONPATH")
        contract["PYTHONPATH"] = packages.SITE_PACKAGES + (f":{user_path}" if user_path else "")
    env: list[Obj] = [{"name": k, "value": v} for k, v in contract.items()]
    if plan.runtime and "HOME" not in spec.environment_variables:
        # The root filesystem is read-only: libraries that cache under ~ (mlflow, HF, numba) need a
        # writable home. A default, not part of the contract: the user's HOME wins.
        env.append({"name": "HOME", "value": TMP_HOME})
    ignored: list[str] = []
    for name, value in spec.environment_variables.items():
        if name in contract:
            if name != "PYTHONPATH":  # merged above, not dropped
                ignored.append(name)
            continue
        env.append({"name": name, "value": value.replace("$(", "$$(")})
    return env, ignored


def ignored_server_settings(dep: OnlineDeployment) -> list[str]:
    """azureml-inference-server-http settings in ``spec.environmentVariables`` that have no effect
    on the scoring runtime, each ``"NAME (why)"`` (empty for custom containers: their server reads
    them). See :mod:`mlendpoints.azmlinfsrv`."""
    if dep.spec.environment.inference_config is not None:
        return []
    return azmlinfsrv.ignored(dep.spec.environment_variables)


def _collector_env(dep: OnlineDeployment, plan: EnvPlan) -> dict[str, str]:
    """``spec.dataCollector`` as the runtime's ``MLENDPOINTS_DATA_COLLECTOR_*`` variables."""
    collector = dep.spec.data_collector
    if not plan.runtime or collector is None or not collector.enabled:
        return {}
    wanted = {
        dc.MODEL_INPUTS: collector.collections.model_inputs,
        dc.MODEL_OUTPUTS: collector.collections.model_outputs,
    }
    out = {
        dc.ENV_ENABLED: "true",
        dc.ENV_SAMPLING_RATE: str(collector.sampling_rate),
        dc.ENV_COLLECTIONS: ",".join(name for name, c in wanted.items() if c.enabled),
        dc.ENV_ROLLING_RATE: collector.rolling_rate.value,
        dc.ENV_BINARY: collector.binary_payloads.value,
    }
    if plan.data_collector_destination:
        out[dc.ENV_DESTINATION] = plan.data_collector_destination
    return out
