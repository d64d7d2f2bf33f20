{{/* Storage: one PVC per pod of a StatefulSet. */}}

{{/* A volumeClaimTemplates entry:
(dict "ctx" $ "component" "member" "name" "data" "persistence" .Values.persistence) */}}
{{- define "chartgen.volumeClaimTemplate" -}}
- metadata:
    name: {{ .name }}
    labels:
      {{- include "chartgen.matchLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
    {{- with .persistence.annotations }}
    annotations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
  spec:
    accessModes:
      {{- toYaml .persistence.accessModes | nindent 6 }}
    {{- with .persistence.storageClass }}
    storageClassName: {{ . }}
    {{- end }}
    resources:
      requests:
        storage: {{ .persistence.size }}
{{- end -}}
