{{/*
PodDisruptionBudget of a component where a majority decides: (N-1)/2 pods may be disrupted
at once, so a majority always stays up. None for a single pod (a budget of 0 would block
every drain forever): (dict "ctx" $ "name" "x" "component" "member" "replicas" 3)
*/}}
{{- define "chartgen.pdb" -}}
{{- if gt (int .replicas) 1 -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ include "chartgen.namespace" .ctx }}
  labels:
    {{- include "chartgen.componentLabels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
spec:
  maxUnavailable: {{ include "chartgen.faultTolerance" (dict "replicas" .replicas) }}
  selector:
    matchLabels:
      {{- include "chartgen.matchLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
{{- end -}}
{{- end -}}
