{{/* MySQL-specific helpers (flavor: mariadb): names, the semi-sync count, guards, the scripts' environment. */}}

{{/* The StatefulSet is <fullname> (its pods are <fullname>-<ordinal>). */}}
{{- define "mysql.stsName" -}}
{{- include "chartgen.workloadName" (dict "ctx" . "suffix" "") -}}
{{- end -}}

{{/* The pods' FQDNs (PEERS), from the library's one peer rule. */}}
{{- define "mysql.peers" -}}
{{- include "chartgen.podFqdns" (dict "ctx" . "statefulset" (include "mysql.stsName" .) "headless" (include "chartgen.headlessName" (dict "ctx" .)) "replicas" .Values.replicaCount) -}}
{{- end -}}

{{- define "mysql.primaryServiceName" -}}{{ include "chartgen.fullname" . }}-primary{{- end -}}
{{- define "mysql.readServiceName" -}}{{ include "chartgen.fullname" . }}-read{{- end -}}
{{- define "mysql.leaseName" -}}{{ include "chartgen.fullname" . }}-leader{{- end -}}

{{- define "mysql.authSecretName" -}}
{{- default (printf "%s-auth" (include "chartgen.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* The agents may read and patch their Lease and this release's pods, and nothing else
(rbac.yaml). The Lease itself is created by the chart (lease.yaml), so no create verb. */}}
{{- define "mysql.roleRules" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [{{ include "mysql.leaseName" . }}]
  verbs: [get, patch]
- apiGroups: [""]
  resources: [pods]
  resourceNames:
    {{- include "chartgen.podNames" (dict "statefulset" (include "mysql.stsName" .) "replicas" .Values.replicaCount) | nindent 4 }}
  verbs: [get, patch]
{{- end -}}

{{/* The library's kubectl proxy sidecar as a native sidecar (an init container with
restartPolicy Always, Kubernetes >= 1.29): it starts before and stops after the main
containers, so the API is still there during their preStop switchover. (.) */}}
{{- define "mysql.apiProxySidecar" -}}
{{- include "chartgen.apiProxyContainer" (dict "image" .Values.kubectlImage "port" .Values.failover.apiProxyPort "resources" .Values.agentResources "securityContext" .Values.containerSecurityContext "sidecar" true) -}}
{{- end -}}

{{/* Replicas a commit waits for: floor(N/2) on MySQL (any acknowledged write is on a majority
of the members); MariaDB waits for one (it has no count); 0 = semi-sync off. */}}
{{- define "mysql.semiSyncWait" -}}
{{- $n := int .Values.replicaCount -}}
{{- if or (not .Values.semiSync.enabled) (lt $n 2) -}}
0
{{- else -}}
1
{{- end -}}
{{- end -}}

{{/* What a schema cannot say: odd counts (also in the schema), a handover that fits in the
grace period, a Lease the primary can renew before it fences itself, users that go together. */}}
{{- define "mysql.validate" -}}
{{- include "chartgen.validateQuorum" (dict "field" "replicaCount" "replicas" .Values.replicaCount) -}}
{{- if and .Values.switchover.enabled (ge (int .Values.switchover.timeoutSeconds) (int .Values.terminationGracePeriodSeconds)) -}}
{{- fail (printf "switchover.timeoutSeconds=%d must be below terminationGracePeriodSeconds=%d, or the pod is killed mid-handover" (int .Values.switchover.timeoutSeconds) (int .Values.terminationGracePeriodSeconds)) -}}
{{- end -}}
{{- $l := int .Values.failover.leaseDurationSeconds -}}
{{- $r := int .Values.failover.renewIntervalSeconds -}}
{{- if lt $l (add (mul $r 2) 2) -}}
{{- fail (printf "failover.leaseDurationSeconds=%d: it must be at least 2 x renewIntervalSeconds + 2 (%d), so the primary renews at least twice before it turns itself read-only at leaseDurationSeconds - renewIntervalSeconds - 1" $l (add (mul $r 2) 2)) -}}
{{- end -}}
{{- if ne (empty .Values.auth.username) (empty .Values.auth.database) -}}
{{- fail "auth.username and auth.database go together: set both (an application user owns its database) or neither" -}}
{{- end -}}
{{- if eq .Values.auth.replicationUser "root" -}}
{{- fail "auth.replicationUser must not be root" -}}
{{- end -}}
{{- $_ := include "mysql.stsName" . -}}
{{- end -}}

{{/* Environment of every container that runs the chart's scripts. */}}
{{- define "mysql.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: PEERS
  value: {{ include "mysql.peers" . | quote }}
- name: REPLICAS
  value: {{ .Values.replicaCount | quote }}
- name: SERVER_PORT
  value: {{ .Values.service.port | quote }}
- name: DONOR_PORT
  value: {{ .Values.service.donorPort | quote }}
- name: SCRIPTS_DIR
  value: /scripts
- name: RUN_DIR
  value: /run/mysqld
- name: DATA_ROOT
  value: /var/lib/mysql
- name: CONFIG_FILE
  value: /etc/mysql/chartgen/my.cnf
- name: HOME
  value: /tmp
- name: MYSQL_HISTFILE
  value: /dev/null
- name: REPL_USER
  value: {{ .Values.auth.replicationUser | quote }}
- name: FAILOVER
  value: {{ ternary "1" "0" .Values.failover.enabled | quote }}
- name: LEASE_NAME
  value: {{ include "mysql.leaseName" . | quote }}
- name: LEASE_SECONDS
  value: {{ .Values.failover.leaseDurationSeconds | quote }}
- name: RENEW_SECONDS
  value: {{ .Values.failover.renewIntervalSeconds | quote }}
- name: SEMI_SYNC_WAIT
  value: {{ include "mysql.semiSyncWait" . | quote }}
- name: SEMI_SYNC_FALLBACK
  value: {{ ternary "1" "0" .Values.semiSync.fallbackToAsync | quote }}
- name: SEMI_SYNC_TIMEOUT
  value: {{ .Values.semiSync.timeoutSeconds | quote }}
- name: MAX_LAG
  value: {{ .Values.maxLagSeconds | quote }}
- name: ROLE_LABEL
  value: chartgen.io/role
- name: HANDOVER_TIMEOUT
  value: {{ .Values.switchover.timeoutSeconds | quote }}
- name: ROOT_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mysql.authSecretName" . }}
      key: root-password
- name: REPLICATION_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mysql.authSecretName" . }}
      key: replication-password
{{- end -}}
