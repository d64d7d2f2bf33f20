{{/* Labels: the app.kubernetes.io/* set on every object, and the stable selector subset. */}}

{{- define "chartgen.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chartgen.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "chartgen.labels" -}}
helm.sh/chart: {{ include "chartgen.chart" . }}
{{ include "chartgen.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "chartgen.name" . }}
{{- end -}}

{{/* Labels plus a component: (dict "ctx" $ "component" "hook") */}}
{{- define "chartgen.componentLabels" -}}
{{ include "chartgen.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}
