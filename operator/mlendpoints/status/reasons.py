"""CamelCase condition reasons, in one place (kubebuilder's ``conditions.go`` pattern)."""

from typing import Final

#: Ready=True
READY: Final = "Ready"
SUCCEEDED: Final = "Succeeded"
#: Ready=Unknown / Reconciling=True
PROGRESSING: Final = "Progressing"
ROLLING_OUT: Final = "RollingOut"
WAITING_FOR_DEPLOYMENTS: Final = "WaitingForDeployments"
WAITING_FOR_ENDPOINT: Final = "WaitingForEndpoint"
WAITING_FOR_ROUTE: Final = "WaitingForRoute"
RECONCILE_ERROR: Final = "ReconcileError"
DELETING_WITH_TRAFFIC: Final = "DeletingWithTraffic"
#: Stalled=True (needs a user)
INVALID_SPEC: Final = "InvalidSpec"
UNKNOWN_INSTANCE_TYPE: Final = "UnknownInstanceType"
INVALID_MODEL: Final = "InvalidModel"
ROUTING_UNSUPPORTED: Final = "RoutingUnsupported"
IMAGE_PULL_FAILED: Final = "ImagePullFailed"
CRASH_LOOP: Final = "CrashLoopBackOff"
UNSCHEDULABLE: Final = "Unschedulable"
MODEL_DOWNLOAD_FAILED: Final = "ModelDownloadFailed"
PROGRESS_DEADLINE_EXCEEDED: Final = "ProgressDeadlineExceeded"
TARGET_UNSUPPORTED: Final = "TargetUnsupported"
ENDPOINT_MISMATCH: Final = "EndpointMismatch"
DEPLOYMENT_STALLED: Final = "DeploymentStalled"
BATCH_EXECUTION_UNAVAILABLE: Final = "BatchExecutionUnavailable"
NAME_CONFLICT: Final = "NameConflict"
#: Target azureml (backends/azureml; docs/azureml.md)
AZURE_PROVISIONING: Final = "AzureProvisioning"
AZURE_OPERATION_IN_PROGRESS: Final = "AzureOperationInProgress"
AZURE_THROTTLED: Final = "AzureThrottled"
AZURE_UNAVAILABLE: Final = "AzureUnavailable"
AZURE_DELETING: Final = "AzureDeleting"
AZURE_PROVISIONING_FAILED: Final = "AzureProvisioningFailed"
AZURE_REJECTED: Final = "AzureRejected"
AZURE_AUTH_FAILED: Final = "AzureAuthFailed"
AZURE_CREDENTIAL_MISSING: Final = "AzureCredentialMissing"
AZURE_JOB_FAILED: Final = "AzureJobFailed"
#: Not a condition: the finalizer is gone, nothing is left to report on.
AZURE_FINALIZED: Final = "AzureFinalized"
#: ModelMonitor
WAITING_FOR_DEPLOYMENT: Final = "WaitingForDeployment"
NO_PRODUCTION_DATA: Final = "NoProductionData"
DRIFT_DETECTED: Final = "DriftDetected"
NO_DRIFT: Final = "NoDrift"
MONITOR_RUN_FAILED: Final = "MonitorRunFailed"
