{{/* Quorum: odd member counts and the disruption budget that keeps a majority. */}}

{{/* Fail on member counts a majority vote cannot use well (the schema says so too). */}}
{{- define "chartgen.validateQuorum" -}}
{{- $n := int .Values.replicaCount -}}
{{- if lt $n 1 -}}
{{- fail (printf "replicaCount=%d: a cluster needs at least 1 member; use 1, 3 or 5" $n) -}}
{{- end -}}
{{- if eq (mod $n 2) 0 -}}
{{- fail (printf "replicaCount=%d: %d members tolerate %d failure(s), like %d do, and a partition can leave no majority; use %d or %d" $n $n (div (sub $n 1) 2) (sub $n 1) (sub $n 1) (add $n 1)) -}}
{{- end -}}
{{- end -}}

{{/* Members that may be down while a majority remains: (N-1)/2. */}}
{{- define "chartgen.faultTolerance" -}}
{{- div (sub (int .Values.replicaCount) 1) 2 -}}
{{- end -}}
