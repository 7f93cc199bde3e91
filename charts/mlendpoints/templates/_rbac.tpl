{{/*
The operator's RBAC rules, in ONE place. rbac.yaml puts them into a ClusterRole (operator
watching the whole cluster) or into a Role per watched namespace plus a ClusterRole for the
cluster-scoped part. Exactly the verbs the operator uses, no wildcards; docs/install.md explains
each rule, tests/chart/test_rbac.py checks them against the code, and the install test runs the
operator with this ServiceAccount's token, so a missing rule fails as a 403.
*/}}

{{/* Rules on namespaced resources: granted per watched namespace, or cluster-wide. */}}
{{- define "mlendpoints.rbac.namespacedRules" -}}
# Own kinds: watched, and read on a cache miss.
- apiGroups: ["mlendpoints.io"]
  resources: ["batchjobs"]
  verbs: ["get", "list", "watch"]
# ModelMonitors: watched (their CronJobs and results are reconciled from the cache).
- apiGroups: ["mlendpoints.io"]
  resources: ["modelmonitors"]
  verbs: ["list", "watch"]
# OnlineDeployments also get their OnlineEndpoint as owner (metadata.ownerReferences, merge patch);
# target-azureml resources get the finalizer mlendpoints.io/azureml (metadata.finalizers, merge patch).
- apiGroups: ["mlendpoints.io"]
  resources: ["onlineendpoints", "onlinedeployments", "batchendpoints", "batchdeployments"]
  verbs: ["get", "list", "watch", "patch"]
# Status subresources: observedGeneration and conditions (merge patch).
- apiGroups: ["mlendpoints.io"]
  resources: ["onlineendpoints/status", "onlinedeployments/status", "batchendpoints/status", "batchdeployments/status", "batchjobs/status", "modelmonitors/status"]
  verbs: ["patch"]
# Children carry ownerReferences with blockOwnerDeletion, which needs update on the owner's
# finalizers where the OwnerReferencesPermissionEnforcement admission plugin is enabled.
- apiGroups: ["mlendpoints.io"]
  resources: ["onlineendpoints/finalizers", "onlinedeployments/finalizers", "modelmonitors/finalizers", "batchjobs/finalizers"]
  verbs: ["update"]
# Children: watched (list, watch), read on a cache miss (get), server-side applied (patch; an
# apply that creates the object is also authorized as create), pruned when no longer desired (delete).
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# ModelMonitor CronJobs (drift checks): watched like the other children, so a stale one is
# pruned whatever process created it.
- apiGroups: ["batch"]
  resources: ["cronjobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# One NetworkPolicy per OnlineDeployment around its scoring pods (networkPolicy.enabled).
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Scoring pods: watched to report image pull errors, crash loops and unschedulable pods.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
# Scoring code (codeConfiguration.configMap): read, and watched so a change rolls the pods.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch"]
# BatchJobs run as Indexed Jobs (created once, suspended to cancel; deleted through owner references).
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Claims named by batch deployments and jobs (pvc://): readiness checks only.
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get", "list", "watch"]
# Events on Ready transitions, key rotations and kopf's own warnings.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/*
Secrets, kept apart so a cluster-wide install can grant them in chosen namespaces only
(rbac.clusterWideSecrets=false). Endpoint keys Secrets: read by name, applied (create, patch),
pruned; Secrets a resource names (credentialsSecretRef, tlsSecretName): read by name, to check
the mlendpoints.io/allow-reference label. Never listed or watched.
*/}}
{{- define "mlendpoints.rbac.secretRules" -}}
# Secrets by name only, never listed or watched: endpoint keys (applied, pruned) and the
# mlendpoints.io/allow-reference label of Secrets a resource references.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create", "patch", "delete"]
{{- end }}

{{/*
Rules on cluster-scoped resources: always cluster-wide. Call with (dict "namespaced" BOOL):
kopf lists and watches namespaces only when it watches a fixed set of them.
*/}}
{{- define "mlendpoints.rbac.clusterRules" -}}
# InstanceTypes are cluster-scoped: watched, read on a cache miss, status written.
- apiGroups: ["mlendpoints.io"]
  resources: ["instancetypes"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["mlendpoints.io"]
  resources: ["instancetypes/status"]
  verbs: ["patch"]
# Target azureml: is a namespace terminating? (its credential Secret is gone with it; see docs/azureml.md)
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get"]
# Gateways (any namespace: shared Gateways live in infrastructure namespaces) are read, never
# written: an endpoint is Ready only when the Gateway its HTTPRoute attaches to is Programmed.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["gateways"]
  verbs: ["get", "list", "watch"]
# kopf watches CRDs to notice APIs installed later (e.g. the Gateway API's HTTPRoute).
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- if .namespaced }}
# kopf lists and watches namespaces to serve the watched ones as they come and go.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- end }}
