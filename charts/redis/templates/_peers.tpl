{{/*
Peers: identities derived from the StatefulSet ordinal, addressed by FQDN only
(<fullname>-<ordinal>.<headless>.<namespace>.svc.<clusterDomain>), never by pod IP.
chartgen/topology.py holds the same rules; a test proves both agree.
*/}}

{{/* FQDN of one member: (dict "ctx" $ "ordinal" 0) */}}
{{- define "chartgen.peerFqdn" -}}
{{- include "chartgen.podFqdn" (dict "ctx" .ctx "statefulset" (include "chartgen.fullname" .ctx) "ordinal" .ordinal) -}}
{{- end -}}

{{/* FQDN of pod <statefulset>-<ordinal> behind the headless Service, for presets whose
StatefulSet name is not the fullname: (dict "ctx" $ "statefulset" "x-node" "ordinal" 0) */}}
{{- define "chartgen.podFqdn" -}}
{{- printf "%s-%d.%s.%s.svc.%s" .statefulset (int .ordinal) (include "chartgen.headlessName" .ctx) (include "chartgen.namespace" .ctx) .ctx.Values.clusterDomain -}}
{{- end -}}

{{/* Space-separated FQDNs of pods 0..replicas-1 of a StatefulSet: (dict "ctx" $ "statefulset" "x-node") */}}
{{- define "chartgen.podFqdns" -}}
{{- $out := list -}}
{{- range $i := until (int .ctx.Values.replicaCount) -}}
{{- $out = append $out (include "chartgen.podFqdn" (dict "ctx" $.ctx "statefulset" $.statefulset "ordinal" $i)) -}}
{{- end -}}
{{- join " " $out -}}
{{- end -}}

{{/* Comma-separated URLs of members 0..replicas-1: (dict "ctx" $ "scheme" "http" "port" 2379) */}}
{{- define "chartgen.peerUrls" -}}
{{- $urls := list -}}
{{- range $i := until (int .ctx.Values.replicaCount) -}}
{{- $urls = append $urls (printf "%s://%s:%d" $.scheme (include "chartgen.peerFqdn" (dict "ctx" $.ctx "ordinal" $i)) (int $.port)) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{/* name=url for members 0..replicas-1 (etcd's --initial-cluster): (dict "ctx" $ "scheme" "http" "port" 2380) */}}
{{- define "chartgen.initialCluster" -}}
{{- $pairs := list -}}
{{- $fullname := include "chartgen.fullname" .ctx -}}
{{- range $i := until (int .ctx.Values.replicaCount) -}}
{{- $pairs = append $pairs (printf "%s-%d=%s://%s:%d" $fullname $i $.scheme (include "chartgen.peerFqdn" (dict "ctx" $.ctx "ordinal" $i)) (int $.port)) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
