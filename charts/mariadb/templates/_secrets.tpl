{{/*
Secrets: generated once, then kept. An existing Secret's value is reused (lookup), so
upgrades never rotate a password behind the data's back. When lookup cannot see the cluster
(helm template, --dry-run=client, GitOps renderers) an upgrade would draw a new value: it
fails instead, naming the value that avoids it.
*/}}

{{/* "true" when lookup sees a live cluster: listing Services answers a ServiceList there,
and an empty map when helm renders without cluster access. (.) */}}
{{- define "chartgen.clusterVisible" -}}
{{- if (lookup "v1" "Service" (include "chartgen.namespace" .) "").kind -}}true{{- end -}}
{{- end -}}

{{/*
Base64 value for KEY of Secret NAME, reused when present; generated on install; refused on
an upgrade that cannot see the cluster:
(dict "ctx" $ "name" "x-auth" "key" "password" "length" 24 "existingSecretField" "auth.existingSecret")
*/}}
{{- define "chartgen.stableSecretValue" -}}
{{- $existing := lookup "v1" "Secret" (include "chartgen.namespace" .ctx) .name -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- include "chartgen.refuseBlindUpgrade" . -}}
{{- randAlphaNum (int (default 24 .length)) | b64enc -}}
{{- end -}}
{{- end -}}

{{/* Fail when an upgrade is rendered without cluster access: the Secret NAME cannot be read,
so a value generated now would replace the one the data was set up with:
(dict "ctx" $ "name" "x-auth" "existingSecretField" "auth.existingSecret") */}}
{{- define "chartgen.refuseBlindUpgrade" -}}
{{- if and .ctx.Release.IsUpgrade (not (include "chartgen.clusterVisible" .ctx)) -}}
{{- fail (printf "Secret %s: this upgrade is rendered without access to the cluster (helm template, --dry-run=client or a GitOps renderer), so its generated value cannot be kept and would change; set %s to a Secret you manage, or render against the cluster (--dry-run=server)" .name .existingSecretField) -}}
{{- end -}}
{{- end -}}

{{/* An Opaque Secret of generated values, kept on uninstall (retained PVCs need them):
(dict "ctx" $ "name" "x-auth" "keys" (dict "password" 24) "existingSecretField" "auth.existingSecret") */}}
{{- define "chartgen.generatedSecret" -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ .name }}
  namespace: {{ include "chartgen.namespace" .ctx }}
  labels:
    {{- include "chartgen.labels" .ctx | nindent 4 }}
  annotations:
    # generated once (lookup reuses it on upgrades) and kept on uninstall: retained PVCs
    # and clients hold these values
    helm.sh/resource-policy: keep
type: Opaque
data:
  {{- range $key, $length := .keys }}
  {{ $key }}: {{ include "chartgen.stableSecretValue" (dict "ctx" $.ctx "name" $.name "key" $key "length" $length "existingSecretField" $.existingSecretField) }}
  {{- end }}
{{- end -}}
