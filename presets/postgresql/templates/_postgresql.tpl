{{/* PostgreSQL-specific helpers: names, the synchronous quorum, guards, the scripts' environment. */}}

{{/* The StatefulSet is <fullname> (its pods are <fullname>-<ordinal>). */}}
{{- define "postgresql.stsName" -}}
{{- include "chartgen.workloadName" (dict "ctx" . "suffix" "") -}}
{{- end -}}

{{/* The pods' FQDNs (PEERS), from the library's one peer rule. */}}
{{- define "postgresql.peers" -}}
{{- include "chartgen.podFqdns" (dict "ctx" . "statefulset" (include "postgresql.stsName" .) "headless" (include "chartgen.headlessName" (dict "ctx" .)) "replicas" .Values.replicaCount) -}}
{{- end -}}

{{- define "postgresql.rwServiceName" -}}{{ include "chartgen.fullname" . }}-rw{{- end -}}
{{- define "postgresql.roServiceName" -}}{{ include "chartgen.fullname" . }}-ro{{- end -}}
{{- define "postgresql.rServiceName" -}}{{ include "chartgen.fullname" . }}-r{{- end -}}
{{- define "postgresql.leaseName" -}}{{ include "chartgen.fullname" . }}-leader{{- end -}}

{{- define "postgresql.authSecretName" -}}
{{- default (printf "%s-auth" (include "chartgen.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* The agents may read and patch their Lease and this release's pods, and nothing else
(rbac.yaml). The Lease itself is created by the chart (lease.yaml), so no create verb. */}}
{{- define "postgresql.roleRules" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [{{ include "postgresql.leaseName" . }}]
  verbs: [get, patch]
- apiGroups: [""]
  resources: [pods]
  resourceNames:
    {{- include "chartgen.podNames" (dict "statefulset" (include "postgresql.stsName" .) "replicas" .Values.replicaCount) | nindent 4 }}
  verbs: [get, patch]
{{- end -}}

{{/* The library's kubectl proxy sidecar as a native sidecar: it starts before and stops after
the main containers, so the API is still there during their preStop switchover. (.) */}}
{{- define "postgresql.apiProxySidecar" -}}
{{- include "chartgen.apiProxyContainer" (dict "image" .Values.kubectlImage "port" .Values.failover.apiProxyPort "resources" .Values.agentResources "securityContext" .Values.containerSecurityContext "sidecar" true) -}}
{{- end -}}

{{/* Standbys a commit waits for: floor(N/2), so every acknowledged commit is on a majority of
the members; 0 = asynchronous. */}}
{{- define "postgresql.syncWait" -}}
{{- $n := int .Values.replicaCount -}}
{{- if or (not .Values.synchronous.enabled) (lt $n 2) -}}
0
{{- else -}}
{{- div $n 2 -}}
{{- end -}}
{{- end -}}

{{/* What a schema cannot say: odd counts (also in the schema), a handover that fits in the
grace period, a Lease the primary can renew before it fences itself, users that go together
(the parameters the chart owns: schema.yaml). */}}
{{- define "postgresql.validate" -}}
{{- include "chartgen.validateQuorum" (dict "field" "replicaCount" "replicas" .Values.replicaCount) -}}
{{- if and .Values.switchover.enabled (ge (int .Values.switchover.timeoutSeconds) (int .Values.terminationGracePeriodSeconds)) -}}
{{- fail (printf "switchover.timeoutSeconds=%d must be below terminationGracePeriodSeconds=%d, or the pod is killed mid-handover" (int .Values.switchover.timeoutSeconds) (int .Values.terminationGracePeriodSeconds)) -}}
{{- end -}}
{{- $l := int .Values.failover.leaseDurationSeconds -}}
{{- $r := int .Values.failover.renewIntervalSeconds -}}
{{- if lt $l (add (mul $r 2) 2) -}}
{{- fail (printf "failover.leaseDurationSeconds=%d: it must be at least 2 x renewIntervalSeconds + 2 (%d), so the primary renews at least twice before it stops its server at leaseDurationSeconds - renewIntervalSeconds - 1" $l (add (mul $r 2) 2)) -}}
{{- end -}}
{{- if ne (empty .Values.auth.username) (empty .Values.auth.database) -}}
{{- fail "auth.username and auth.database go together: set both (an application user owns its database) or neither" -}}
{{- end -}}
{{- if eq .Values.auth.replicationUser "postgres" -}}
{{- fail "auth.replicationUser must not be postgres (the superuser)" -}}
{{- end -}}
{{- $_ := include "postgresql.stsName" . -}}
{{- end -}}

{{/* Environment of every container that runs the chart's scripts. */}}
{{- define "postgresql.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: PEERS
  value: {{ include "postgresql.peers" . | quote }}
- name: REPLICAS
  value: {{ .Values.replicaCount | quote }}
- name: SERVER_PORT
  value: {{ .Values.service.port | quote }}
- name: SCRIPTS_DIR
  value: /scripts
- name: RUN_DIR
  value: /var/run/postgresql
- name: DATA_ROOT
  value: /var/lib/postgresql/data
- name: CONFIG_DIR
  value: /etc/postgresql/chartgen
- name: HOME
  value: /tmp
- name: PSQL_HISTORY
  value: /dev/null
- name: REPL_USER
  value: {{ .Values.auth.replicationUser | quote }}
- name: FAILOVER
  value: {{ ternary "1" "0" .Values.failover.enabled | quote }}
- name: LEASE_NAME
  value: {{ include "postgresql.leaseName" . | quote }}
- name: LEASE_SECONDS
  value: {{ .Values.failover.leaseDurationSeconds | quote }}
- name: RENEW_SECONDS
  value: {{ .Values.failover.renewIntervalSeconds | quote }}
- name: SYNC_WAIT
  value: {{ include "postgresql.syncWait" . | quote }}
- name: MAX_LAG
  value: {{ .Values.maxLagSeconds | quote }}
- name: ROLE_LABEL
  value: chartgen.io/role
- name: HANDOVER_TIMEOUT
  value: {{ .Values.switchover.timeoutSeconds | quote }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "postgresql.authSecretName" . }}
      key: postgres-password
- name: REPLICATION_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "postgresql.authSecretName" . }}
      key: replication-password
{{- end -}}
