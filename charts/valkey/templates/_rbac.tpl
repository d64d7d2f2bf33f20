{{/* ServiceAccount, and a namespaced Role limited to the release's own objects. */}}

{{/* (.) The pods' ServiceAccount; its token is never mounted by default (see chartgen.apiTokenVolume). */}}
{{- define "chartgen.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "chartgen.serviceAccountName" (dict "ctx" . "serviceAccount" .Values.serviceAccount) }}
  namespace: {{ include "chartgen.namespace" . }}
  labels:
    {{- include "chartgen.labels" . | nindent 4 }}
automountServiceAccountToken: false
{{- end -}}

{{/* Role + RoleBinding for the ServiceAccount: (dict "ctx" $ "rules" (list ...)) */}}
{{- define "chartgen.rbac" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ include "chartgen.fullname" .ctx }}
  namespace: {{ include "chartgen.namespace" .ctx }}
  labels:
    {{- include "chartgen.labels" .ctx | nindent 4 }}
rules:
  {{- toYaml .rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ include "chartgen.fullname" .ctx }}
  namespace: {{ include "chartgen.namespace" .ctx }}
  labels:
    {{- include "chartgen.labels" .ctx | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ include "chartgen.fullname" .ctx }}
subjects:
  - kind: ServiceAccount
    name: {{ include "chartgen.serviceAccountName" (dict "ctx" .ctx "serviceAccount" .ctx.Values.serviceAccount) }}
    namespace: {{ include "chartgen.namespace" .ctx }}
{{- end -}}

{{/* Names of a StatefulSet's pods 0..N-1 (for a Role's resourceNames):
(dict "statefulset" "x-node" "replicas" 3) */}}
{{- define "chartgen.podNames" -}}
{{- range $i := until (int .replicas) }}
- {{ $.statefulset }}-{{ $i }}
{{- end }}
{{- end -}}
