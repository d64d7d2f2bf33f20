{{/*
Peers: identities derived from the StatefulSet ordinal, addressed by FQDN only
(<statefulset>-<ordinal>.<headless>.<namespace>.svc.<clusterDomain>), never by pod IP.
This is the one Helm rule; chartgen/topology.py holds the same one for Python, a test proves
both agree, and the scripts only read the PEERS list rendered from here.
*/}}

{{/* FQDN of pod <statefulset>-<ordinal>: (dict "ctx" $ "statefulset" "x-node" "headless" "x-headless" "ordinal" 0) */}}
{{- define "chartgen.podFqdn" -}}
{{- printf "%s-%d.%s.%s.svc.%s" .statefulset (int .ordinal) .headless (include "chartgen.namespace" .ctx) .ctx.Values.clusterDomain -}}
{{- end -}}

{{/* Space-separated FQDNs of pods 0..replicas-1 (the PEERS the scripts read):
(dict "ctx" $ "statefulset" "x-node" "headless" "x-headless" "replicas" 3) */}}
{{- define "chartgen.podFqdns" -}}
{{- $out := list -}}
{{- range $i := until (int .replicas) -}}
{{- $out = append $out (include "chartgen.podFqdn" (dict "ctx" $.ctx "statefulset" $.statefulset "headless" $.headless "ordinal" $i)) -}}
{{- end -}}
{{- join " " $out -}}
{{- end -}}
