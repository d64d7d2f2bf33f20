{{/*
Peers: identities derived from the StatefulSet ordinal, addressed by FQDN only
(<fullname>-<ordinal>.<headless>.<namespace>.svc.<clusterDomain>), never by pod IP.
chartgen/topology.py holds the same rules; a test proves both agree.
*/}}

{{/* FQDN of one member: (dict "ctx" $ "ordinal" 0) */}}
{{- define "chartgen.peerFqdn" -}}
{{- printf "%s-%d.%s.%s.svc.%s" (include "chartgen.fullname" .ctx) (int .ordinal) (include "chartgen.headlessName" .ctx) (include "chartgen.namespace" .ctx) .ctx.Values.clusterDomain -}}
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
