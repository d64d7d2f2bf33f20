{{/* etcd-specific helpers: schemes, Secret names, the tools containers' environment. */}}

{{- define "etcd.clientScheme" -}}{{ ternary "https" "http" (.Values.tls.client | default false) }}{{- end -}}
{{- define "etcd.peerScheme" -}}{{ ternary "https" "http" (.Values.tls.peer | default false) }}{{- end -}}
{{- define "etcd.tlsEnabled" -}}{{ if or .Values.tls.client .Values.tls.peer }}true{{ end }}{{- end -}}

{{- define "etcd.authSecretName" -}}
{{- default (printf "%s-auth" (include "chartgen.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "etcd.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "chartgen.fullname" .)) .Values.tls.existingSecret -}}
{{- end -}}

{{/* The scale-down hook may shrink this release's StatefulSet, and nothing else (rbac.yaml). */}}
{{- define "etcd.roleRules" -}}
- apiGroups: [apps]
  resources: [statefulsets, statefulsets/scale]
  resourceNames: [{{ include "chartgen.fullname" . }}]
  verbs: [get, patch]
{{- end -}}

{{- define "etcd.clientServiceName" -}}{{ include "chartgen.fullname" . }}{{- end -}}

{{/* The members' FQDNs (PEERS), from the library's one peer rule. */}}
{{- define "etcd.peers" -}}
{{- include "chartgen.podFqdns" (dict "ctx" . "statefulset" (include "chartgen.fullname" .) "headless" (include "chartgen.headlessName" (dict "ctx" .)) "replicas" .Values.replicaCount) -}}
{{- end -}}

{{/* Environment of every container running the chart's scripts (tools image); the member
list (PEERS, REPLICAS) comes from the topology ConfigMap, so scaling restarts no member. */}}
{{- define "etcd.toolsEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: STATEFULSET
  value: {{ include "chartgen.fullname" . | quote }}
- name: CLIENT_SCHEME
  value: {{ include "etcd.clientScheme" . | quote }}
- name: CLIENT_PORT
  value: {{ .Values.service.clientPort | quote }}
- name: PEER_SCHEME
  value: {{ include "etcd.peerScheme" . | quote }}
- name: PEER_PORT
  value: {{ .Values.service.peerPort | quote }}
- name: SCRIPTS_DIR
  value: /scripts
- name: ETCDCTL_DIAL_TIMEOUT
  value: 3s
- name: ETCDCTL_COMMAND_TIMEOUT
  value: 10s
{{- if .Values.tls.client }}
- name: ETCDCTL_CACERT
  value: /etc/etcd/tls/ca.crt
- name: ETCDCTL_CERT
  value: /etc/etcd/tls/tls.crt
- name: ETCDCTL_KEY
  value: /etc/etcd/tls/tls.key
{{- end }}
{{- if .Values.auth.enabled }}
- name: AUTH_ENABLED
  value: "true"
- name: ROOT_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "etcd.authSecretName" . }}
      key: {{ .Values.auth.existingSecretPasswordKey }}
{{- end }}
{{- end -}}

{{/* A tools container's resources and security context. */}}
{{- define "etcd.toolsLimits" -}}
{{- include "chartgen.containerLimits" (dict "resources" .Values.toolsResources "securityContext" .Values.containerSecurityContext) -}}
{{- end -}}

{{- define "etcd.tlsVolume" -}}
{{- if include "etcd.tlsEnabled" . }}
- name: tls
  secret:
    secretName: {{ include "etcd.tlsSecretName" . }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "etcd.tlsMount" -}}
{{- if include "etcd.tlsEnabled" . }}
- name: tls
  mountPath: /etc/etcd/tls
  readOnly: true
{{- end }}
{{- end -}}
