{{/* The name of every object: the release name, with the chart name unless it already has it. */}}
{{- define "gatehouse.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gatehouse.labels" -}}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The Secret with client-secret and session-secrets. */}}
{{- define "gatehouse.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "gatehouse.fullname" .) -}}
{{- end -}}

{{/* The Secret with the Redis URL. */}}
{{- define "gatehouse.redisSecretName" -}}
{{- .Values.redis.existingSecret | default (printf "%s-redis-url" (include "gatehouse.fullname" .)) -}}
{{- end -}}

{{/* Settings the chart refuses before anything reaches the cluster. */}}
{{- define "gatehouse.checks" -}}
{{- if not (or (eq .Values.mode "gateway") (eq .Values.mode "sidecar")) -}}
{{- fail (printf "mode: expected gateway or sidecar, got %s" .Values.mode) -}}
{{- end -}}
{{- if and (eq .Values.session.store "redis") (not .Values.redis.enabled) -}}
{{- fail "session.store redis needs redis.enabled: true (and redis.url or redis.existingSecret)" -}}
{{- end -}}
{{- if and (eq .Values.session.store "memory") (ne (toString .Values.replicaCount) "1") -}}
{{- fail "session.store memory keeps sessions inside one pod: use replicaCount 1, or the cookie or redis store" -}}
{{- end -}}
{{- end -}}

{{/*
The Gatehouse configuration file. listen, admin.listen and the session's
secrets and Redis fields come from the chart; everything else from .Values.config
and .Values.session.
*/}}
{{- define "gatehouse.config" -}}
listen: 0.0.0.0:{{ .Values.ports.http }}
admin:
  listen: 0.0.0.0:{{ .Values.ports.admin }}
{{ toYaml .Values.config }}
session:
  secretsFile: /var/run/secrets/gatehouse/session-secrets
{{- with .Values.session }}
{{ toYaml . | indent 2 }}
{{- end }}
{{- if .Values.redis.enabled }}
  redis:
    urlFile: /var/run/secrets/gatehouse/redis-url
    keyPrefix: {{ .Values.redis.keyPrefix | quote }}
{{- end }}
{{- end -}}
