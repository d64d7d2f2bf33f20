{{/* Images: registry/repository:tag, or @digest when a digest is pinned. (an image block) */}}
{{- define "chartgen.image" -}}
{{- $ref := .repository -}}
{{- if .registry -}}{{- $ref = printf "%s/%s" .registry .repository -}}{{- end -}}
{{- if .digest -}}
{{- printf "%s@%s" $ref .digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (toString .tag) -}}
{{- end -}}
{{- end -}}

{{/* image + imagePullPolicy lines of a container: (an image block) */}}
{{- define "chartgen.containerImage" -}}
image: {{ include "chartgen.image" . }}
imagePullPolicy: {{ .pullPolicy | default "IfNotPresent" }}
{{- end -}}

{{/* imagePullSecrets of a pod: (dict "secrets" .Values.imagePullSecrets) */}}
{{- define "chartgen.imagePullSecrets" -}}
{{- with .secrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
