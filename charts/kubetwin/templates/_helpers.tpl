{{/*
The chart's name, or nameOverride.
*/}}
{{- define "kubetwin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, or the release name when it
contains the chart name, or RELEASE-CHART; at most 63 characters (a DNS label).
*/}}
{{- define "kubetwin.fullname" -}}
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

{{/*
The name of cluster-scoped objects (ClusterRoles, ClusterRoleBindings): the full name and
the release namespace, so that releases in two namespaces do not collide.
*/}}
{{- define "kubetwin.clusterName" -}}
{{- printf "%s-%s" (include "kubetwin.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
chart: NAME-VERSION, for the helm.sh/chart label.
*/}}
{{- define "kubetwin.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "kubetwin.labels" -}}
helm.sh/chart: {{ include "kubetwin.chart" . }}
{{ include "kubetwin.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: kubetwin
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that select the operator's pods (immutable in a Deployment's selector).
*/}}
{{- define "kubetwin.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubetwin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The operator's ServiceAccount.
*/}}
{{- define "kubetwin.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubetwin.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference: repository:tag, the tag defaulting to the chart's appVersion.
*/}}
{{- define "kubetwin.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The leader-election Lease's name.
*/}}
{{- define "kubetwin.leaseName" -}}
{{- printf "%s-leader" (include "kubetwin.fullname" .) }}
{{- end }}

{{/*
The namespaces that get a Role with rbac.scope=namespaced: watchNamespace and
rbac.namespaces, without repeats. Fails on an unknown scope, or on namespaced without
watchNamespace (the operator would list TwinExperiments cluster-wide and be refused).
*/}}
{{- define "kubetwin.rbacNamespaces" -}}
{{- if not (has .Values.rbac.scope (list "cluster" "namespaced")) }}
{{- fail (printf "rbac.scope must be cluster or namespaced, not %q" .Values.rbac.scope) }}
{{- end }}
{{- if eq .Values.rbac.scope "namespaced" }}
{{- if not .Values.watchNamespace }}
{{- fail "rbac.scope=namespaced needs watchNamespace: the namespace whose TwinExperiments the operator watches" }}
{{- end }}
{{- prepend .Values.rbac.namespaces .Values.watchNamespace | uniq | toJson }}
{{- else }}
{{- list | toJson }}
{{- end }}
{{- end }}
