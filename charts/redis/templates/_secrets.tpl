{{/*
Secrets: generated once, then kept. An existing Secret's value is reused (lookup), so
upgrades never rotate a password behind the data's back. When lookup cannot see the
cluster (helm template, GitOps renderers) set existingSecret instead.
*/}}

{{/* Base64 value for key in Secret name, reused when present: (dict "ctx" $ "name" "x" "key" "k" "length" 24) */}}
{{- define "chartgen.stableSecretValue" -}}
{{- $existing := lookup "v1" "Secret" (include "chartgen.namespace" .ctx) .name -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- randAlphaNum (int (default 24 .length)) | b64enc -}}
{{- end -}}
{{- end -}}
