{{/* MongoDB-specific helpers: names, the peers, the agent's Role, guards, the scripts' environment. */}}

{{/* The StatefulSet is <fullname>; its pods are <fullname>-<ordinal>. */}}
{{- define "mongodb.statefulsetName" -}}
{{- include "chartgen.workloadName" (dict "ctx" .) -}}
{{- end -}}

{{/* The members' FQDNs (PEERS), from the library's one peer rule. */}}
{{- define "mongodb.peers" -}}
{{- include "chartgen.podFqdns" (dict "ctx" . "statefulset" (include "mongodb.statefulsetName" .) "headless" (include "chartgen.headlessName" (dict "ctx" .)) "replicas" .Values.replicaCount) -}}
{{- end -}}

{{- define "mongodb.primaryServiceName" -}}{{ include "chartgen.fullname" . }}-primary{{- end -}}
{{- define "mongodb.readServiceName" -}}{{ include "chartgen.fullname" . }}-read{{- end -}}
{{- define "mongodb.configName" -}}{{ include "chartgen.fullname" . }}-config{{- end -}}
{{/* PEERS and REPLICAS, read by the pods at container start and by the agent through the API:
not part of the pod template, so a change of replicaCount restarts no member. */}}
{{- define "mongodb.topologyName" -}}{{ include "chartgen.fullname" . }}-topology{{- end -}}
{{/* The durable record: the agent writes the replica set id here when the set is first initiated. */}}
{{- define "mongodb.recordName" -}}{{ include "chartgen.fullname" . }}-replset{{- end -}}

{{- define "mongodb.authSecretName" -}}
{{- default (printf "%s-auth" (include "chartgen.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* The agents read the StatefulSet and the two ConfigMaps, write the record and label their own
pods; nothing else (rbac.yaml). */}}
{{- define "mongodb.roleRules" -}}
- apiGroups: [""]
  resources: [pods]
  resourceNames:
    {{- include "chartgen.podNames" (dict "statefulset" (include "mongodb.statefulsetName" .) "replicas" .Values.replicaCount) | nindent 4 }}
  verbs: [get, patch]
- apiGroups: [apps]
  resources: [statefulsets]
  resourceNames: [{{ include "mongodb.statefulsetName" . }}]
  verbs: [get]
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [{{ include "mongodb.topologyName" . }}, {{ include "mongodb.recordName" . }}]
  verbs: [get]
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [{{ include "mongodb.recordName" . }}]
  verbs: [patch]
{{- end -}}

{{/* What a schema cannot say (or says too, for renders that skip it). */}}
{{- define "mongodb.validate" -}}
{{- if gt (int .Values.replicaCount) 7 -}}
{{- fail (printf "replicaCount=%d: every member of this chart votes and MongoDB allows at most 7 voting members; use 7 at most" (int .Values.replicaCount)) -}}
{{- end -}}
{{- include "chartgen.validateQuorum" (dict "field" "replicaCount" "replicas" .Values.replicaCount) -}}
{{- if gt (add (int .Values.preStop.timeoutSeconds) 10) (int .Values.terminationGracePeriodSeconds) -}}
{{- fail (printf "preStop.timeoutSeconds=%d must be at most terminationGracePeriodSeconds-10 (%d): mongod's own shutdown follows the hook" (int .Values.preStop.timeoutSeconds) (sub (int .Values.terminationGracePeriodSeconds) 10)) -}}
{{- end -}}
{{- if ge (int .Values.preStop.catchUpSeconds) (int .Values.preStop.timeoutSeconds) -}}
{{- fail (printf "preStop.catchUpSeconds=%d must be below preStop.timeoutSeconds=%d" (int .Values.preStop.catchUpSeconds) (int .Values.preStop.timeoutSeconds)) -}}
{{- end -}}
{{- if ne (empty .Values.auth.username) (empty .Values.auth.database) -}}
{{- fail "auth.username and auth.database: set both (an application user with readWrite on its database) or neither" -}}
{{- end -}}
{{- $_ := include "mongodb.statefulsetName" . -}}
{{- end -}}

{{/* A probe's command: (dict "check" "ready" "probe" .Values.readinessProbe); mongosh gets one
second less than the kubelet waits. */}}
{{- define "mongodb.probe" -}}
exec:
  command: [/bin/sh, /scripts/probe.sh, {{ .check }}, "{{ sub (int (default 10 .probe.timeoutSeconds)) 1 }}"]
{{ toYaml .probe }}
{{- end -}}

{{/* Environment of every container running the chart's scripts (mongo image). Passwords come
from the Secret as variables, which mongo.js reads: never a command line. */}}
{{- define "mongodb.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: SCRIPTS_DIR
  value: /scripts
- name: JS_DIR
  value: /js
- name: PORT
  value: {{ .Values.service.port | quote }}
- name: REPLICA_SET
  value: {{ .Values.replicaSet.name | quote }}
- name: ROOT_USER
  value: {{ .Values.auth.rootUser | quote }}
- name: MONGODB_ROOT_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mongodb.authSecretName" . }}
      key: {{ .Values.auth.rootPasswordKey }}
{{- if .Values.auth.username }}
- name: APP_USER
  value: {{ .Values.auth.username | quote }}
- name: APP_DATABASE
  value: {{ .Values.auth.database | quote }}
- name: MONGODB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mongodb.authSecretName" . }}
      key: {{ .Values.auth.passwordKey }}
{{- end }}
# mongosh keeps its state under HOME: the image's is the data directory
- name: HOME
  value: /tmp
{{- end -}}

{{/* The mounts every mongosh needs: the scripts, the JavaScript and mongosh's settings. */}}
{{- define "mongodb.scriptMounts" -}}
- name: tmp
  mountPath: /tmp
- name: scripts
  mountPath: /scripts
- name: js
  mountPath: /js
  readOnly: true
# mongosh's global settings: no log files, no telemetry
- name: js
  mountPath: /etc/mongosh.conf
  subPath: mongosh.conf
  readOnly: true
{{- end -}}

{{- define "mongodb.jsVolume" -}}
- name: js
  configMap:
    name: {{ include "mongodb.configName" . }}
{{- end -}}
