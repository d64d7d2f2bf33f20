{{/* Storage: one PVC per pod of a StatefulSet, or a claim of its own (a Deployment's). */}}

{{/* A volumeClaimTemplates entry. With "adoptable" the claims it makes carry Helm's ownership
metadata, so that a later revision rendering the same claim as a PersistentVolumeClaim of its
own (a type switch to stateless-single) adopts it instead of failing on an existing object:
(dict "ctx" $ "component" "member" "name" "data" "persistence" .Values.persistence ["adoptable" true]) */}}
{{- define "chartgen.volumeClaimTemplate" -}}
- metadata:
    name: {{ .name }}
    labels:
      {{- include "chartgen.matchLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
      {{- if .adoptable }}
      app.kubernetes.io/managed-by: Helm
      {{- end }}
    {{- if or .persistence.annotations .adoptable }}
    annotations:
      {{- with .persistence.annotations }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
      {{- if .adoptable }}
      meta.helm.sh/release-name: {{ .ctx.Release.Name }}
      meta.helm.sh/release-namespace: {{ .ctx.Release.Namespace }}
      {{- end }}
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

{{/* A PersistentVolumeClaim of its own (a Deployment's volume), kept on uninstall and when a
later revision no longer renders it (helm.sh/resource-policy: keep), so a type switch never
deletes data; its access modes may be overridden (a shared claim needs ReadWriteMany):
(dict "ctx" $ "component" "main" "name" "data-x-0" "persistence" .Values.persistence ["accessModes" (list ...)]) */}}
{{- define "chartgen.persistentVolumeClaim" -}}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .name }}
  namespace: {{ include "chartgen.namespace" .ctx }}
  labels:
    {{- include "chartgen.componentLabels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
  annotations:
    helm.sh/resource-policy: keep
    {{- with .persistence.annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  accessModes:
    {{- toYaml (.accessModes | default .persistence.accessModes) | nindent 4 }}
  {{- with .persistence.storageClass }}
  storageClassName: {{ . }}
  {{- end }}
  resources:
    requests:
      storage: {{ .persistence.size }}
{{- end -}}
