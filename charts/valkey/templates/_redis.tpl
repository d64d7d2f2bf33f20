{{/* Redis-specific helpers: names, the effective quorum, guards, the scripts' environment. */}}

{{/* The StatefulSet: <fullname>-node (its pods are <fullname>-node-<ordinal>). */}}
{{- define "redis.nodeName" -}}
{{- include "chartgen.workloadName" (dict "ctx" . "suffix" "-node") -}}
{{- end -}}

{{/* The pods' FQDNs (PEERS), from the library's one peer rule. */}}
{{- define "redis.peers" -}}
{{- include "chartgen.podFqdns" (dict "ctx" . "statefulset" (include "redis.nodeName" .) "headless" (include "chartgen.headlessName" (dict "ctx" .)) "replicas" .Values.replicaCount) -}}
{{- end -}}

{{/* "true" when the pods run sentinels: every type but stateful-single (one pod has no
replica to fail over to). */}}
{{- define "redis.sentinels" -}}
{{- if not (include "chartgen.single" .) -}}true{{- end -}}
{{- end -}}

{{/* "true" when the agents label the pods with their role (roleLabels.enabled, with sentinels:
a master is one a majority of sentinels names). */}}
{{- define "redis.roleLabels" -}}
{{- if and .Values.roleLabels.enabled (include "redis.sentinels" .) -}}true{{- end -}}
{{- end -}}

{{/* "true" when a master's preStop hook hands over to a replica (needs the sentinels). */}}
{{- define "redis.handover" -}}
{{- if and .Values.preStopHandover.enabled (include "redis.sentinels" .) -}}true{{- end -}}
{{- end -}}

{{/* The agents may read and label this release's pods, and nothing else (rbac.yaml). */}}
{{- define "redis.roleRules" -}}
- apiGroups: [""]
  resources: [pods]
  resourceNames:
    {{- include "chartgen.podNames" (dict "statefulset" (include "redis.nodeName" .) "replicas" .Values.replicaCount) | nindent 4 }}
  verbs: [get, patch]
{{- end -}}

{{- define "redis.masterServiceName" -}}{{ include "chartgen.fullname" . }}-master{{- end -}}
{{- define "redis.readServiceName" -}}{{ include "chartgen.fullname" . }}-read{{- end -}}
{{- define "redis.sentinelServiceName" -}}{{ include "chartgen.fullname" . }}-sentinel{{- end -}}

{{- define "redis.authSecretName" -}}
{{- default (printf "%s-auth" (include "chartgen.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "redis.sentinelAuth" -}}{{ if and .Values.auth.enabled .Values.auth.sentinel (include "redis.sentinels" .) }}true{{ end }}{{- end -}}

{{/* Sentinels that must agree a master is down: sentinel.quorum, or a majority when 0. */}}
{{- define "redis.quorum" -}}
{{- $n := int .Values.replicaCount -}}
{{- $q := int .Values.sentinel.quorum -}}
{{- if eq $q 0 -}}{{- $q = int (include "chartgen.majority" (dict "replicas" $n)) -}}{{- end -}}
{{- $q -}}
{{- end -}}

{{/* min-replicas-to-write, capped at replicaCount-1 (a single pod has no replica to wait for). */}}
{{- define "redis.minReplicasToWrite" -}}
{{- min (int .Values.redis.minReplicasToWrite) (sub (int .Values.replicaCount) 1) -}}
{{- end -}}

{{/* What a schema cannot say: odd counts (also in the schema), a quorum that is a majority,
a handover that fits in the grace period. */}}
{{- define "redis.validate" -}}
{{- include "chartgen.validateQuorum" (dict "field" "replicaCount" "replicas" .Values.replicaCount) -}}
{{- $n := int .Values.replicaCount -}}
{{- $q := int (include "redis.quorum" .) -}}
{{- if or (le (mul $q 2) $n) (gt $q $n) -}}
{{- fail (printf "sentinel.quorum=%d with replicaCount=%d: the quorum must be a majority of the sentinels (%d..%d), or 0 for %d; a minority must never fail a master over" $q $n (add (div $n 2) 1) $n (add (div $n 2) 1)) -}}
{{- end -}}
{{- if and .Values.preStopHandover.enabled (ge (int .Values.preStopHandover.timeoutSeconds) (int .Values.terminationGracePeriodSeconds)) -}}
{{- fail (printf "preStopHandover.timeoutSeconds=%d must be below terminationGracePeriodSeconds=%d, or the pod is killed mid-handover" (int .Values.preStopHandover.timeoutSeconds) (int .Values.terminationGracePeriodSeconds)) -}}
{{- end -}}
{{- $_ := include "redis.nodeName" . -}}
{{- end -}}

{{/* Environment of every container that runs the chart's scripts. */}}
{{- define "redis.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: PEERS
  value: {{ include "redis.peers" . | quote }}
- name: REPLICAS
  value: {{ .Values.replicaCount | quote }}
- name: QUORUM
  value: {{ include "redis.quorum" . | quote }}
- name: MASTER_SET
  value: {{ .Values.sentinel.masterSet | quote }}
- name: SENTINELS
  value: {{ ternary "true" "false" (eq (include "redis.sentinels" .) "true") | quote }}
- name: SERVER_PORT
  value: {{ .Values.service.redisPort | quote }}
- name: SENTINEL_PORT
  value: {{ .Values.service.sentinelPort | quote }}
- name: DOWN_AFTER_MS
  value: {{ .Values.sentinel.downAfterMilliseconds | quote }}
- name: FAILOVER_TIMEOUT_MS
  value: {{ .Values.sentinel.failoverTimeout | quote }}
- name: SCRIPTS_DIR
  value: /scripts
- name: CLI_TIMEOUT
  value: "2"
- name: HOME
  value: /tmp
- name: REDISCLI_HISTFILE
  value: /dev/null
{{- if .Values.auth.enabled }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "redis.authSecretName" . }}
      key: {{ .Values.auth.existingSecretPasswordKey }}
{{- end }}
{{- if include "redis.sentinelAuth" . }}
- name: SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "redis.authSecretName" . }}
      key: {{ .Values.auth.existingSecretPasswordKey }}
{{- end }}
{{- end -}}
