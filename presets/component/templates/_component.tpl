{{/* component-specific helpers: names, guards, the pod template shared by the StatefulSet and
the Deployment, probes, the data volume. */}}

{{/* The workload (StatefulSet or Deployment): <fullname>; its pods are <fullname>-<ordinal>
(stateful types) or <fullname>-<hash> (stateless). */}}
{{- define "component.name" -}}
{{- include "chartgen.workloadName" (dict "ctx" . "suffix" "") -}}
{{- end -}}

{{- define "component.headless" -}}
{{- include "chartgen.headlessName" (dict "ctx" .) -}}
{{- end -}}

{{/* The pods' FQDNs (stateful types), from the library's one peer rule. */}}
{{- define "component.peers" -}}
{{- include "chartgen.podFqdns" (dict "ctx" . "statefulset" (include "component.name" .) "headless" (include "component.headless" .) "replicas" .Values.replicaCount) -}}
{{- end -}}

{{/* What a schema cannot say, or says without the fix (the schema refuses these too). */}}
{{- define "component.validate" -}}
{{- if not .Values.image.repository -}}
{{- fail "image.repository: this chart runs your image and has none; set image.repository and image.tag (chartgen generate --image)" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (ne .Values.type "stateless-multi") -}}
{{- fail (printf "autoscaling.enabled with type %s: only stateless-multi pods are interchangeable and scale freely; turn autoscaling off or use type=stateless-multi" .Values.type) -}}
{{- end -}}
{{- if and (eq .Values.type "stateless-multi") .Values.persistence.enabled (not (has "ReadWriteMany" .Values.persistence.accessModes)) -}}
{{- fail (printf "persistence.accessModes=%v with type stateless-multi: its pods share one claim, which needs ReadWriteMany (a StorageClass that offers it); set persistence.accessModes={ReadWriteMany} or persistence.enabled=false" .Values.persistence.accessModes) -}}
{{- end -}}
{{- end -}}

{{/* A probe of the container: httpGet or exec when set, else TCP on the first port; then its
timing: (dict "probe" .Values.livenessProbe "port" "http") */}}
{{- define "component.probe" -}}
{{- if .probe.httpGet -}}
httpGet:
  {{- toYaml (merge (deepCopy .probe.httpGet) (dict "port" .port)) | nindent 2 }}
{{- else if .probe.exec -}}
exec:
  {{- toYaml .probe.exec | nindent 2 }}
{{- else -}}
tcpSocket:
  port: {{ .port }}
{{- end }}
{{ toYaml (omit .probe "enabled" "httpGet" "exec") }}
{{- end -}}

{{/* The pod's data volume when it is not a volumeClaimTemplate's: the single pod's own claim
(stateless-single), the shared claim (stateless-multi), or an emptyDir. (.) */}}
{{- define "component.dataVolume" -}}
- name: data
{{- if not .Values.persistence.enabled }}
  emptyDir: {}
{{- else if eq .Values.type "stateless-single" }}
  persistentVolumeClaim:
    claimName: {{ include "chartgen.singleClaimName" (dict "workload" (include "component.name" .) "claim" "data") }}
{{- else }}
  persistentVolumeClaim:
    claimName: {{ include "chartgen.sharedClaimName" (dict "workload" (include "component.name" .)) }}
{{- end }}
{{- end -}}

{{/* The pod template of either kind. (.) */}}
{{- define "component.podTemplate" -}}
{{- $first := (first .Values.ports).name -}}
metadata:
  {{- include "chartgen.podMetadata" (dict "ctx" . "component" "main" "pod" .Values) | nindent 2 }}
spec:
  {{- include "chartgen.podSettings" (dict "ctx" . "component" "main" "pod" .Values) | nindent 2 }}
  containers:
    - name: main
      {{- include "chartgen.containerImage" .Values.image | nindent 6 }}
      {{- with .Values.command }}
      command:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.args }}
      args:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if or .Values.env .Values.extraEnv }}
      env:
        {{- range $name, $value := .Values.env }}
        - name: {{ $name }}
          value: {{ toString $value | quote }}
        {{- end }}
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      {{- with .Values.envFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        {{- range .Values.ports }}
        - name: {{ .name }}
          containerPort: {{ .port }}
          protocol: {{ .protocol | default "TCP" }}
        {{- end }}
      {{- range $kind := list "startupProbe" "livenessProbe" "readinessProbe" }}
      {{- $probe := index $.Values $kind }}
      {{- if $probe.enabled }}
      {{ $kind }}:
        {{- include "component.probe" (dict "probe" $probe "port" $first) | nindent 8 }}
      {{- end }}
      {{- end }}
      {{- include "chartgen.containerLimits" (dict "resources" .Values.resources "securityContext" .Values.containerSecurityContext) | nindent 6 }}
      volumeMounts:
        - name: data
          mountPath: {{ .Values.persistence.mountPath }}
        - name: tmp
          mountPath: /tmp
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- include "chartgen.tmpVolume" . | nindent 4 }}
    {{- if not (and (include "chartgen.stateful" .) .Values.persistence.enabled) }}
    {{- include "component.dataVolume" . | nindent 4 }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
