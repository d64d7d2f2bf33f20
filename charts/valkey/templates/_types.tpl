{{/*
Deployment types (chartgen --type, the `type` value): stateful-single and stateful-multi run a
StatefulSet (ordered names that resolve, a volume per pod, ordered start/update/stop),
stateless-single and stateless-multi a Deployment (no own data, any pod answers). A -single
type runs exactly one instance.
*/}}

{{/* "true" for the stateful types: (.) */}}
{{- define "chartgen.stateful" -}}
{{- if hasPrefix "stateful-" (toString .Values.type) -}}true{{- end -}}
{{- end -}}

{{/* "true" for the -single types: (.) */}}
{{- define "chartgen.single" -}}
{{- if hasSuffix "-single" (toString .Values.type) -}}true{{- end -}}
{{- end -}}

{{/* StatefulSet or Deployment, as the type says: (.) */}}
{{- define "chartgen.workloadKind" -}}
{{- if include "chartgen.stateful" . -}}StatefulSet{{- else -}}Deployment{{- end -}}
{{- end -}}

{{/* The annotation that tells a later upgrade which type runs now (see chartgen.typeSwitchGuard): (.) */}}
{{- define "chartgen.typeAnnotation" -}}
chartgen.io/type: {{ .Values.type | quote }}
{{- end -}}

{{/* Fail when a -single type is asked for another instance count (the schema says so too):
(dict "ctx" $ "field" "replicaCount" "replicas" .Values.replicaCount) */}}
{{- define "chartgen.validateType" -}}
{{- $type := toString .ctx.Values.type -}}
{{- if and (hasSuffix "-single" $type) (ne (int .replicas) 1) -}}
{{- fail (printf "%s=%d: type %s runs exactly one instance; set %s=1, or type=%s for %d" .field (int .replicas) $type .field (replace "-single" "-multi" $type) (int .replicas)) -}}
{{- end -}}
{{- end -}}

{{/* The PVC of the one pod of a -single type, named as a StatefulSet names the claim of its
pod 0 (<claim>-<workload>-0), so that a StatefulSet of the same name adopts it and a switch
between stateless-single and stateful-single keeps the data:
(dict "workload" "x" "claim" "data") */}}
{{- define "chartgen.singleClaimName" -}}
{{- printf "%s-%s-0" .claim .workload -}}
{{- end -}}

{{/* The ReadWriteMany claim all pods of stateless-multi share: (dict "workload" "x") */}}
{{- define "chartgen.sharedClaimName" -}}
{{- printf "%s-shared" .workload -}}
{{- end -}}

{{/* PVC names a type uses for WORKLOAD (JSON list): stateful: <claim>-<workload>-<i> for
every pod; stateless-single: <claim>-<workload>-0; stateless-multi: the shared claim; none
when CLAIM is "": (dict "type" "stateful-multi" "workload" "x" "replicas" 3 "claim" "data") */}}
{{- define "chartgen.typeClaims" -}}
{{- $out := list -}}
{{- if .claim -}}
{{- if hasPrefix "stateful-" .type -}}
{{- range $i := until (int .replicas) -}}
{{- $out = append $out (printf "%s-%s-%d" $.claim $.workload $i) -}}
{{- end -}}
{{- else if eq .type "stateless-single" -}}
{{- $out = append $out (include "chartgen.singleClaimName" .) -}}
{{- else -}}
{{- $out = append $out (include "chartgen.sharedClaimName" .) -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The types a switch to TYPE can leave volumes behind from: to stateful-multi only from
stateless-multi (its shared claim); to a -single type from stateful-multi (pods 1..N-1) and
stateless-multi; to stateless-multi from every other type (per-pod volumes): (dict "type" "x") */}}
{{- define "chartgen.lossyFrom" -}}
{{- if eq .type "stateful-multi" -}}["stateless-multi"]
{{- else if eq .type "stateless-multi" -}}["stateful-single","stateful-multi","stateless-single"]
{{- else -}}["stateful-multi","stateless-multi"]
{{- end -}}
{{- end -}}

{{/*
Refuse a type switch that would drop or orphan data. On an upgrade, the live workload of the
same name (StatefulSet, else Deployment) says which type runs now (its chartgen.io/type
annotation; else guessed from its kind and size) and which claims hold data: a StatefulSet's
<template>-<name>-<i> for each pod, a Deployment's mounted claims. A claim the new type no
longer mounts, or that deleting the StatefulSet would delete
(persistentVolumeClaimRetentionPolicy.whenDeleted=Delete), fails the upgrade with what would
be lost and how to proceed. Only a change of type is a switch: scaling within stateful-multi
keeps its PVCs by whenScaled, and turning persistence off is a value of its own. An upgrade rendered without cluster access cannot see the live workload: it is
refused when a type the chart offers could lose data by switching to this one.
typeSwitch.acknowledgeDataLoss=true lets the upgrade through.
(dict "ctx" $ "workload" "x" "replicas" 3 "claim" "data" "persistence" .Values.persistence
      "types" (list "stateful-multi" "stateful-single"))
*/}}
{{- define "chartgen.typeSwitchGuard" -}}
{{- $ctx := .ctx -}}
{{- $type := toString $ctx.Values.type -}}
{{- $ack := and $ctx.Values.typeSwitch $ctx.Values.typeSwitch.acknowledgeDataLoss -}}
{{- if and $ctx.Release.IsUpgrade (not $ack) -}}
{{- $ns := include "chartgen.namespace" $ctx -}}
{{- $claim := .claim -}}
{{- if and (kindIs "map" .persistence) (hasKey .persistence "enabled") (not .persistence.enabled) -}}{{- $claim = "" -}}{{- end -}}
{{- if not (include "chartgen.clusterVisible" $ctx) -}}
{{- $risky := list -}}
{{- range $t := (include "chartgen.lossyFrom" (dict "type" $type) | fromJsonArray) -}}
{{- if and (has $t $.types) (ne $t $type) -}}{{- $risky = append $risky $t -}}{{- end -}}
{{- end -}}
{{- if $risky -}}
{{- fail (printf "type %s: this upgrade is rendered without access to the cluster (helm template, --dry-run=client or a GitOps renderer), so it cannot see whether the release runs %s now, whose volumes a switch to %s would leave unused; render against the cluster (--dry-run=server), or set typeSwitch.acknowledgeDataLoss=true" $type (join " or " $risky) $type) -}}
{{- end -}}
{{- else -}}
{{- $live := lookup "apps/v1" "StatefulSet" $ns .workload -}}
{{- $liveKind := "StatefulSet" -}}
{{- if not $live -}}
{{- $live = lookup "apps/v1" "Deployment" $ns .workload -}}
{{- $liveKind = "Deployment" -}}
{{- end -}}
{{- if $live -}}
{{- $n := 1 -}}
{{- if hasKey $live.spec "replicas" -}}{{- $n = int $live.spec.replicas -}}{{- end -}}
{{- $liveType := index ($live.metadata.annotations | default dict) "chartgen.io/type" | default "" -}}
{{- $had := list -}}
{{- if eq $liveKind "StatefulSet" -}}
{{- if not $liveType -}}{{- $liveType = ternary "stateful-multi" "stateful-single" (gt $n 1) -}}{{- end -}}
{{- range $t := ($live.spec.volumeClaimTemplates | default list) -}}
{{- range $i := until $n -}}
{{- $had = append $had (printf "%s-%s-%d" $t.metadata.name $.workload $i) -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- if not $liveType -}}{{- $liveType = ternary "stateless-multi" "stateless-single" (gt $n 1) -}}{{- end -}}
{{- range $v := ($live.spec.template.spec.volumes | default list) -}}
{{- if $v.persistentVolumeClaim -}}{{- $had = append $had $v.persistentVolumeClaim.claimName -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- $keeps := include "chartgen.typeClaims" (dict "type" $type "workload" .workload "replicas" .replicas "claim" $claim) | fromJsonArray -}}
{{- $policy := dig "persistentVolumeClaimRetentionPolicy" "whenDeleted" "Retain" ($live.spec | default dict) -}}
{{- if and (eq $liveKind "StatefulSet") (not (hasPrefix "stateful-" $type)) (eq $policy "Delete") $had -}}
{{- fail (printf "type switch %s -> %s: StatefulSet %s has persistentVolumeClaimRetentionPolicy.whenDeleted=Delete, so replacing it with a Deployment deletes PVC(s) %s with their data; first upgrade with persistentVolumeClaimRetentionPolicy.whenDeleted=Retain and type=%s, then switch (or set typeSwitch.acknowledgeDataLoss=true to lose them)" $liveType $type .workload (join ", " $had) $liveType) -}}
{{- end -}}
{{- $lost := list -}}
{{- range $c := $had -}}
{{- if not (has $c $keeps) -}}{{- $lost = append $lost $c -}}{{- end -}}
{{- end -}}
{{- if and $lost (ne $liveType $type) -}}
{{- $kept := "none of them stays in use" -}}
{{- $still := list -}}
{{- range $c := $had -}}{{- if has $c $keeps -}}{{- $still = append $still $c -}}{{- end -}}{{- end -}}
{{- if $still -}}{{- $kept = printf "only %s stays in use" (join ", " $still) -}}{{- end -}}
{{- fail (printf "type switch %s -> %s would leave PVC(s) %s unused (%s): their data stays on the volumes but no pod mounts it; copy what you need to a volume the new type keeps, then upgrade with typeSwitch.acknowledgeDataLoss=true (delete the PVCs yourself afterwards), or keep type=%s" $liveType $type (join ", " $lost) $kept $liveType) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
