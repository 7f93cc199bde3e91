"""apiVersion/kind -> REST path pieces for every kind the operator reads or writes.

A static table instead of discovery: the operator touches a known, small set of kinds, and a
table costs no requests at startup (discovery is done only to learn whether optional APIs such
as the Gateway API are installed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def base(self) -> str:
        return f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        parts = [self.base]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
        if sub:
            parts.append(sub)
        return "/".join(parts)


_ALL = [
    Kind("v1", "Service", "services"),
    Kind("v1", "Secret", "secrets"),
    Kind("v1", "ConfigMap", "configmaps"),
    Kind("v1", "Pod", "pods"),
    Kind("v1", "Event", "events"),
    Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    Kind("v1", "Namespace", "namespaces", namespaced=False),
    Kind("apps/v1", "Deployment", "deployments"),
    Kind("apps/v1", "ReplicaSet", "replicasets"),
    Kind("batch/v1", "Job", "jobs"),
    Kind("batch/v1", "CronJob", "cronjobs"),
    Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    Kind("networking.k8s.io/v1", "Ingress", "ingresses"),
    Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    Kind("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes"),
    Kind("gateway.networking.k8s.io/v1", "Gateway", "gateways"),
    Kind("mlendpoints.io/v1alpha1", "OnlineEndpoint", "onlineendpoints"),
    Kind("mlendpoints.io/v1alpha1", "OnlineDeployment", "onlinedeployments"),
    Kind("mlendpoints.io/v1alpha1", "BatchEndpoint", "batchendpoints"),
    Kind("mlendpoints.io/v1alpha1", "BatchDeployment", "batchdeployments"),
    Kind("mlendpoints.io/v1alpha1", "BatchJob", "batchjobs"),
    Kind("mlendpoints.io/v1alpha1", "InstanceType", "instancetypes", namespaced=False),
    Kind("mlendpoints.io/v1alpha1", "ModelMonitor", "modelmonitors"),
]
BY_KIND: dict[tuple[str, str], Kind] = {(k.api_version, k.kind): k for k in _ALL}


def lookup(api_version: str, kind: str) -> Kind:
    try:
        return BY_KIND[(api_version, kind)]
    except KeyError:
        raise KeyError(f"mlendpoints does not manage {api_version} {kind}") from None


def of(obj: dict[str, object]) -> Kind:
    return lookup(str(obj["apiVersion"]), str(obj["kind"]))


SERVICE = BY_KIND[("v1", "Service")]
SECRET = BY_KIND[("v1", "Secret")]
CONFIGMAP = BY_KIND[("v1", "ConfigMap")]
POD = BY_KIND[("v1", "Pod")]
EVENT = BY_KIND[("v1", "Event")]
PVC = BY_KIND[("v1", "PersistentVolumeClaim")]
JOB = BY_KIND[("batch/v1", "Job")]
DEPLOYMENT = BY_KIND[("apps/v1", "Deployment")]
HPA = BY_KIND[("autoscaling/v2", "HorizontalPodAutoscaler")]
PDB = BY_KIND[("policy/v1", "PodDisruptionBudget")]
INGRESS = BY_KIND[("networking.k8s.io/v1", "Ingress")]
NETWORK_POLICY = BY_KIND[("networking.k8s.io/v1", "NetworkPolicy")]
HTTPROUTE = BY_KIND[("gateway.networking.k8s.io/v1", "HTTPRoute")]
GATEWAY = BY_KIND[("gateway.networking.k8s.io/v1", "Gateway")]
ONLINE_ENDPOINT = BY_KIND[("mlendpoints.io/v1alpha1", "OnlineEndpoint")]
ONLINE_DEPLOYMENT = BY_KIND[("mlendpoints.io/v1alpha1", "OnlineDeployment")]
BATCH_ENDPOINT = BY_KIND[("mlendpoints.io/v1alpha1", "BatchEndpoint")]
BATCH_DEPLOYMENT = BY_KIND[("mlendpoints.io/v1alpha1", "BatchDeployment")]
BATCH_JOB = BY_KIND[("mlendpoints.io/v1alpha1", "BatchJob")]
INSTANCE_TYPE = BY_KIND[("mlendpoints.io/v1alpha1", "InstanceType")]
MODEL_MONITOR = BY_KIND[("mlendpoints.io/v1alpha1", "ModelMonitor")]
CRONJOB = BY_KIND[("batch/v1", "CronJob")]
