{{/* Pod skeleton: what every pod of a chartgen chart has, whatever its containers. */}}

{{/* The pod template's metadata: labels, extra labels, checksums of the files that must
restart the pods when they change, extra annotations:
(dict "ctx" $ "component" "member" "pod" .Values "checksums" (list "configmap-config.yaml")) */}}
{{- define "chartgen.podMetadata" -}}
labels:
  {{- include "chartgen.componentLabels" (dict "ctx" .ctx "component" .component) | nindent 2 }}
  {{- with .pod.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- if or .checksums .pod.podAnnotations }}
annotations:
  {{- range .checksums }}
  checksum/{{ trimSuffix ".yaml" . }}: {{ include (print $.ctx.Template.BasePath "/" .) $.ctx | sha256sum }}
  {{- end }}
  {{- with .pod.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
Pod-level settings: service account (no token unless a container mounts one, see
chartgen.apiTokenVolume), no service links, pull secrets, priority, security context, grace
period, affinity, node selector, tolerations, topology spread:
(dict "ctx" $ "component" "member" "pod" .Values)
*/}}
{{- define "chartgen.podSettings" -}}
serviceAccountName: {{ include "chartgen.serviceAccountName" (dict "ctx" .ctx "serviceAccount" .ctx.Values.serviceAccount) }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- include "chartgen.imagePullSecrets" (dict "secrets" .ctx.Values.imagePullSecrets) }}
{{- with .pod.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- toYaml .pod.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ .pod.terminationGracePeriodSeconds }}
{{- with (include "chartgen.affinity" (dict "ctx" .ctx "component" .component "pod" .pod)) }}
affinity:
  {{- . | nindent 2 }}
{{- end }}
{{- with .pod.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .pod.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .pod.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- include "chartgen.topologySpread" (dict "ctx" $.ctx "component" $.component "constraints" .) | nindent 2 }}
{{- end }}
{{- end -}}

{{/* A container's resources and security context: (dict "resources" ... "securityContext" ...) */}}
{{- define "chartgen.containerLimits" -}}
resources:
  {{- toYaml .resources | nindent 2 }}
securityContext:
  {{- toYaml .securityContext | nindent 2 }}
{{- end -}}

{{/* The scripts ConfigMap as a volume (files/*.sh, executable): (.) */}}
{{- define "chartgen.scriptsVolume" -}}
- name: scripts
  configMap:
    name: {{ include "chartgen.fullname" . }}-scripts
    defaultMode: 0555
{{- end -}}

{{/*
The API token, only for the containers that use the Kubernetes API (agents): a projected
volume with a short-lived token, the cluster CA and the namespace. (no parameters)
*/}}
{{- define "chartgen.apiTokenVolume" -}}
- name: kube-api-access
  projected:
    defaultMode: 0444
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                fieldPath: metadata.namespace
{{- end -}}

{{- define "chartgen.apiTokenMount" -}}
- name: kube-api-access
  mountPath: /var/run/secrets/kubernetes.io/serviceaccount
  readOnly: true
{{- end -}}

{{/*
The Kubernetes API for agents in images without kubectl. Kubernetes' kubectl image has no shell
and no `cp`, so nothing can copy its binary out; instead it runs as a sidecar, `kubectl proxy`
on 127.0.0.1 (it alone holds the API token), and the pod shares one process namespace, where an
agent runs the sidecar's own binary through /proc/<pid>/exe against the proxy (common.sh:
kubectl_setup, kube). Use with `shareProcessNamespace: true` on the pod; in a Job, as a
native sidecar ("sidecar" true: an init container that keeps running):
(dict "image" .Values.kubectlImage "port" 8001 "resources" ... "securityContext" ... ["sidecar" true])
*/}}
{{- define "chartgen.apiProxyContainer" -}}
- name: kubectl
  {{- include "chartgen.containerImage" .image | nindent 2 }}
  {{- if .sidecar }}
  restartPolicy: Always
  {{- end }}
  # only this pod reaches it (127.0.0.1; kubectl's default accepts only local Host headers)
  command: [/bin/kubectl, proxy, --address=127.0.0.1, --port={{ .port }}]
  {{- include "chartgen.containerLimits" . | nindent 2 }}
  volumeMounts:
    {{- include "chartgen.apiTokenMount" . | nindent 4 }}
{{- end -}}

{{/* The environment an agent needs to reach the proxy: (dict "port" 8001) */}}
{{- define "chartgen.apiProxyEnv" -}}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: API_PROXY
  value: "http://127.0.0.1:{{ .port }}"
{{- end -}}

{{/* Labels of a helper pod (helm test, hook Job) of component COMPONENT: it may reach the
client ports whatever networkPolicy.allowExternal says: (dict "ctx" $ "component" "test") */}}
{{- define "chartgen.helperLabels" -}}
{{ include "chartgen.componentLabels" (dict "ctx" .ctx "component" .component) }}
{{ include "chartgen.clientLabel" .ctx }}
{{- end -}}

{{/* Pod-level settings of a helper pod that runs once (helm test, hook Job):
(dict "ctx" $ "pod" .Values) */}}
{{- define "chartgen.helperPodSettings" -}}
restartPolicy: Never
serviceAccountName: {{ include "chartgen.serviceAccountName" (dict "ctx" .ctx "serviceAccount" .ctx.Values.serviceAccount) }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- include "chartgen.imagePullSecrets" (dict "secrets" .ctx.Values.imagePullSecrets) }}
securityContext:
  {{- toYaml .pod.podSecurityContext | nindent 2 }}
{{- end -}}

{{/* A small emptyDir at /tmp for containers with a read-only root file system: (no parameters) */}}
{{- define "chartgen.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 16Mi
{{- end -}}
