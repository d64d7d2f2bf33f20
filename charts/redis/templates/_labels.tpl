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

{{/*
Selector of the cluster's members only: hook Jobs and test pods carry the same name and
instance labels, so Services, PDBs and affinities must also match the member component.
*/}}
{{- define "chartgen.memberSelectorLabels" -}}
{{ include "chartgen.selectorLabels" . }}
app.kubernetes.io/component: member
{{- end -}}
