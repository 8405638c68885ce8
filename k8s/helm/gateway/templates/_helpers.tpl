{{/* Chart name, at most 63 characters. */}}
{{- define "gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name. */}}
{{- define "gateway.fullname" -}}
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

{{- define "gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Whole seconds as a .NET TimeSpan (hh:mm:ss). */}}
{{- define "gateway.timespan" -}}
{{- $s := int . }}
{{- printf "%02d:%02d:%02d" (div $s 3600) (mod (div $s 60) 60) (mod $s 60) }}
{{- end }}

{{/*
The least grace period that lets a drain finish: preStop sleep, drain delay and window, the last close
handshakes, and 10 s for the server to stop. The gateway sets its own shutdown timeout to the same budget
minus the preStop sleep.
*/}}
{{- define "gateway.drainBudgetSeconds" -}}
{{- $d := .Values.drain }}
{{- add (int $d.preStopSleepSeconds) (int $d.delaySeconds) (int $d.windowSeconds) (int $d.closeTimeoutSeconds) 10 }}
{{- end }}

{{- define "gateway.terminationGracePeriodSeconds" -}}
{{- $budget := int (include "gateway.drainBudgetSeconds" .) }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- $budget }}
{{- else if lt (int .Values.terminationGracePeriodSeconds) $budget }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be at least drain.preStopSleepSeconds + delaySeconds + windowSeconds + closeTimeoutSeconds + 10 = %d, or the kubelet kills pods mid-drain and their clients reconnect all at once" (int .Values.terminationGracePeriodSeconds) $budget) }}
{{- else }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* The configuration file: gateway settings and YARP routes and clusters. */}}
{{- define "gateway.configJson" -}}
{{- $config := dict "Gateway" (.Values.gateway | default dict) "ReverseProxy" (dict "Routes" (.Values.reverseProxy.routes | default dict) "Clusters" (.Values.reverseProxy.clusters | default dict)) }}
{{- toPrettyJson $config }}
{{- end }}
