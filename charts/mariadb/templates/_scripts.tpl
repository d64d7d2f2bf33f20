{{/* The scripts ConfigMap: every files/*.sh of the chart (the library's common.sh
included), mounted read-only and executable at /scripts. (.) */}}
{{- define "chartgen.scriptsConfigMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "chartgen.fullname" . }}-scripts
  namespace: {{ include "chartgen.namespace" . }}
  labels:
    {{- include "chartgen.labels" . | nindent 4 }}
data:
  {{- range $path, $_ := .Files.Glob "files/*.sh" }}
  {{ base $path }}: |
    {{- $.Files.Get $path | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* Scripts inline, for a hook that runs before the ConfigMap holds the new release:
(dict "ctx" $ "files" (list "common.sh" "lib.sh" "scale-down.sh")) */}}
{{- define "chartgen.inlineScripts" -}}
{{- $parts := list -}}
{{- range .files -}}
{{- $parts = append $parts ($.ctx.Files.Get (printf "files/%s" .)) -}}
{{- end -}}
{{- join "\n" $parts -}}
{{- end -}}
