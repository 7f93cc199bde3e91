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
#: Reconciling=True, then Stalled=True after the grace period (MLENDPOINTS_STALL_AFTER)
DEPLOYMENT_NOT_FOUND: Final = "DeploymentNotFound"
GATEWAY_NOT_FOUND: Final = "GatewayNotFound"
GATEWAY_NOT_PROGRAMMED: Final = "GatewayNotProgrammed"
ROUTE_REFS_UNRESOLVED: Final = "RouteRefsUnresolved"
INGRESS_NOT_ADMITTED: Final = "IngressNotAdmitted"
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
ROUTE_NOT_ACCEPTED: Final = "RouteNotAccepted"
BATCH_EXECUTION_UNAVAILABLE: Final = "BatchExecutionUnavailable"
NAME_CONFLICT: Final = "NameConflict"
