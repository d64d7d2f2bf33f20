{{/* Labels: the app.kubernetes.io/* set on every object, and the stable selector subsets. */}}

{{- define "chartgen.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chartgen.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object of the release. */}}
{{- define "chartgen.labels" -}}
helm.sh/chart: {{ include "chartgen.chart" . }}
{{ include "chartgen.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: {{ include "chartgen.name" . }}
{{- end -}}

{{/* Labels plus a component: (dict "ctx" $ "component" "member") */}}
{{- define "chartgen.componentLabels" -}}
{{ include "chartgen.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
Selector of one component's pods: hook Jobs and test pods carry the same name and instance
labels, so Services, PDBs, affinities and policies also match the component:
(dict "ctx" $ "component" "member")
*/}}
{{- define "chartgen.matchLabels" -}}
{{ include "chartgen.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The label that lets a pod reach the client ports when networkPolicy.allowExternal is
off: <fullname>-client: "true". Test pods and hook Jobs carry it too. */}}
{{- define "chartgen.clientLabel" -}}
{{ include "chartgen.fullname" . }}-client: "true"
{{- end -}}
