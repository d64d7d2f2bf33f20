{{/* Images: registry/repository:tag, or @digest when a digest is pinned. */}}
{{- define "chartgen.image" -}}
{{- $ref := printf "%s/%s" .registry .repository -}}
{{- if .registry -}}{{- else -}}{{- $ref = .repository -}}{{- end -}}
{{- if .digest -}}
{{- printf "%s@%s" $ref .digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (toString .tag) -}}
{{- end -}}
{{- end -}}

{{- define "chartgen.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
