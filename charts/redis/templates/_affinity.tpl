{{/* Affinity: spread members over nodes; soft by default, hard on request. */}}
{{- define "chartgen.podAntiAffinity" -}}
{{- if eq .Values.podAntiAffinityPreset "hard" }}
podAntiAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    - topologyKey: {{ .Values.antiAffinityTopologyKey }}
      labelSelector:
        matchLabels:
          {{- include "chartgen.memberSelectorLabels" . | nindent 10 }}
{{- else if eq .Values.podAntiAffinityPreset "soft" }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: {{ .Values.antiAffinityTopologyKey }}
        labelSelector:
          matchLabels:
            {{- include "chartgen.memberSelectorLabels" . | nindent 12 }}
{{- end }}
{{- end -}}

{{/* The pod's affinity: a user-supplied affinity wins over the preset. */}}
{{- define "chartgen.affinity" -}}
{{- if .Values.affinity -}}
{{- toYaml .Values.affinity -}}
{{- else -}}
{{- include "chartgen.podAntiAffinity" . | trim -}}
{{- end -}}
{{- end -}}
