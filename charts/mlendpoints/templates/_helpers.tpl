{{/*
Names and labels. Every name is truncated to 63 characters (DNS-1123 label limit).
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "mlendpoints.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name prefix: fullnameOverride, else "<release>-<name>", or just the release name when
it already contains the chart name.
*/}}
{{- define "mlendpoints.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of the `helm test` hook's objects ("-test" suffix inside 63 characters). */}}
{{- define "mlendpoints.testName" -}}
{{- printf "%s-test" (include "mlendpoints.fullname" . | trunc 58 | trimSuffix "-") }}
{{- end }}

{{/* "<chart>-<version>" for the helm.sh/chart label. */}}
{{- define "mlendpoints.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name and instance: shared by every object of the release. */}}
{{- define "mlendpoints.baseLabels" -}}
app.kubernetes.io/name: {{ include "mlendpoints.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector labels of the operator pod: stable for the life of the release (a Deployment's selector is immutable). */}}
{{- define "mlendpoints.selectorLabels" -}}
{{ include "mlendpoints.baseLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels that say which chart and version made an object. */}}
{{- define "mlendpoints.commonLabels" -}}
helm.sh/chart: {{ include "mlendpoints.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mlendpoints
{{- end }}

{{/* Labels of the operator's objects. */}}
{{- define "mlendpoints.labels" -}}
{{ include "mlendpoints.commonLabels" . }}
{{ include "mlendpoints.selectorLabels" . }}
{{- end }}

{{/* Labels of the `helm test` hook's objects (component "test": the Service never selects them). */}}
{{- define "mlendpoints.testLabels" -}}
{{ include "mlendpoints.commonLabels" . }}
{{ include "mlendpoints.baseLabels" . }}
app.kubernetes.io/component: test
{{- end }}

{{/*
Labels of the CRDs: the generated CRDs' own labels (crds/*.yaml) plus the release's.
*/}}
{{- define "mlendpoints.crdLabels" -}}
app.kubernetes.io/name: mlendpoints
app.kubernetes.io/part-of: mlendpoints
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "mlendpoints.chart" . }}
{{- end }}

{{/* The operator's ServiceAccount name. */}}
{{- define "mlendpoints.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mlendpoints.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
An image reference from {repository, tag, digest}: the digest wins over the tag; an empty tag
means the chart's appVersion. Call with (dict "image" .Values.image "root" .).
*/}}
{{- define "mlendpoints.imageRef" -}}
{{- $image := .image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* The watched namespaces, de-duplicated and sorted (empty: cluster-wide). */}}
{{- define "mlendpoints.watchNamespaces" -}}
{{- .Values.operator.watchNamespaces | uniq | sortAlpha | join "," }}
{{- end }}
