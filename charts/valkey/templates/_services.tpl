{{/* Services: the headless one that names each pod, and client Services. */}}

{{/*
Headless Service of a StatefulSet: one DNS name per pod, published before the pods are ready
so members find each other while the cluster forms (unless publishNotReadyAddresses is false);
a port may carry its protocol:
(dict "ctx" $ "name" "x-headless" "component" "member" "ports" (list (dict "name" "peer" "port" 2380))
      ["publishNotReadyAddresses" true])
*/}}
{{- define "chartgen.headlessService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  namespace: {{ include "chartgen.namespace" .ctx }}
  labels:
    {{- include "chartgen.componentLabels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
spec:
  clusterIP: None
  publishNotReadyAddresses: {{ ternary true .publishNotReadyAddresses (not (hasKey . "publishNotReadyAddresses")) }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      {{- with .protocol }}
      protocol: {{ . }}
      {{- end }}
    {{- end }}
  selector:
    {{- include "chartgen.matchLabels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
{{- end -}}

{{/*
A client Service of a component's ready pods, optionally narrowed by more labels (a role):
(dict "ctx" $ "name" "x-master" "component" "member" "service" .Values.service
      "ports" (list (dict "name" "redis" "port" 6379)) "select" (dict "chartgen.io/role" "master"))
*/}}
{{- define "chartgen.clientService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ .name }}
  namespace: {{ include "chartgen.namespace" .ctx }}
  labels:
    {{- include "chartgen.componentLabels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
  {{- with .service.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ .service.type }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      {{- with .protocol }}
      protocol: {{ . }}
      {{- end }}
    {{- end }}
  selector:
    {{- include "chartgen.matchLabels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
    {{- with .select }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
