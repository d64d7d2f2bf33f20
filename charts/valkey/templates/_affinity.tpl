{{/* Affinity: spread a component's pods over nodes; soft by default, hard on request. */}}

{{/* (dict "ctx" $ "component" "member" "preset" "soft" "topologyKey" "kubernetes.io/hostname") */}}
{{- define "chartgen.podAntiAffinity" -}}
{{- if eq .preset "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: {{ .topologyKey }}
      labelSelector:
        matchLabels:
          {{- include "chartgen.matchLabels" (dict "ctx" .ctx "component" .component) | nindent 10 }}
{{- else if eq .preset "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: {{ .topologyKey }}
        labelSelector:
          matchLabels:
            {{- include "chartgen.matchLabels" (dict "ctx" .ctx "component" .component) | nindent 12 }}
{{- end }}
{{- end -}}

{{/* A pod's affinity: the user's own wins over the preset:
(dict "ctx" $ "component" "member" "pod" .Values) */}}
{{- define "chartgen.affinity" -}}
{{- if .pod.affinity -}}
{{- toYaml .pod.affinity -}}
{{- else -}}
{{- include "chartgen.podAntiAffinity" (dict "ctx" .ctx "component" .component "preset" .pod.podAntiAffinityPreset "topologyKey" .pod.antiAffinityTopologyKey) | trim -}}
{{- end -}}
{{- end -}}

{{/* topologySpreadConstraints; an entry without labelSelector gets the component's:
(dict "ctx" $ "component" "member" "constraints" .Values.topologySpreadConstraints) */}}
{{- define "chartgen.topologySpread" -}}
{{- range .constraints }}
- {{- $c := deepCopy . -}}
  {{- if not $c.labelSelector -}}
  {{- $_ := set $c "labelSelector" (dict "matchLabels" (include "chartgen.matchLabels" (dict "ctx" $.ctx "component" $.component) | fromYaml)) -}}
  {{- end -}}
  {{- toYaml $c | nindent 2 }}
{{- end }}
{{- end -}}
