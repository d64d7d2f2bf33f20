{{/* Quorum: odd member counts, and the disruption budget that keeps a majority. */}}

{{/* Fail on member counts a majority vote cannot use well (the schema says so too):
(dict "field" "replicaCount" "replicas" .Values.replicaCount) */}}
{{- define "chartgen.validateQuorum" -}}
{{- $n := int .replicas -}}
{{- if lt $n 1 -}}
{{- fail (printf "%s=%d: a cluster needs at least 1 member; use 1, 3 or 5" .field $n) -}}
{{- end -}}
{{- if eq (mod $n 2) 0 -}}
{{- fail (printf "%s=%d: %d members tolerate %d failure(s), like %d do, and a partition can leave no majority; use %d or %d" .field $n $n (div (sub $n 1) 2) (sub $n 1) (sub $n 1) (add $n 1)) -}}
{{- end -}}
{{- if gt $n 7 -}}
{{- fail (printf "%s=%d: at most 7 members (a majority of 7 already tolerates 3 failures; see the chart README); use 7 or fewer (1, 3, 5 or 7)" .field $n) -}}
{{- end -}}
{{- end -}}

{{/* Members that may be down while a majority remains, (N-1)/2: (dict "replicas" N) */}}
{{- define "chartgen.faultTolerance" -}}
{{- div (sub (int .replicas) 1) 2 -}}
{{- end -}}

{{/* Votes a majority of N needs, N/2+1: (dict "replicas" N) */}}
{{- define "chartgen.majority" -}}
{{- add (div (int .replicas) 2) 1 -}}
{{- end -}}
