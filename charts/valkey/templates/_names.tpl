{{/* Names: one helper per derived name. Shared by every chartgen chart. */}}

{{/* Chart name, or nameOverride. */}}
{{- define "chartgen.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name. Never truncated silently: peers address each other by names
derived from it, so a name that does not fit fails with the fix instead.
*/}}
{{- define "chartgen.fullname" -}}
{{- $name := "" -}}
{{- if .Values.fullnameOverride -}}
{{- $name = .Values.fullnameOverride -}}
{{- else -}}
{{- $base := default .Chart.Name .Values.nameOverride -}}
{{- if contains $base .Release.Name -}}
{{- $name = .Release.Name -}}
{{- else -}}
{{- $name = printf "%s-%s" .Release.Name $base -}}
{{- end -}}
{{- end -}}
{{- if gt (len $name) 52 -}}
{{- fail (printf "fullname %q has %d characters; StatefulSet names must fit in 52: use a shorter release name or set fullnameOverride" $name (len $name)) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/* A workload's name, <fullname><suffix>; a StatefulSet's must fit in 52 characters
(its pods' controller-revision-hash label adds 11): (dict "ctx" $ "suffix" "-node") */}}
{{- define "chartgen.workloadName" -}}
{{- $name := printf "%s%s" (include "chartgen.fullname" .ctx) (default "" .suffix) -}}
{{- if gt (len $name) 52 -}}
{{- fail (printf "StatefulSet name %q has %d characters; it must fit in 52: use a release name or fullnameOverride of at most %d characters" $name (len $name) (sub 52 (len (default "" .suffix)))) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/* Chart label value: name-version. */}}
{{- define "chartgen.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Namespace of every object: namespaceOverride or the release namespace. */}}
{{- define "chartgen.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{/* Headless Service that gives each pod of a StatefulSet its stable DNS name:
(dict "ctx" $ "suffix" "-headless") */}}
{{- define "chartgen.headlessName" -}}
{{- printf "%s%s" (include "chartgen.fullname" .ctx) (default "-headless" .suffix) -}}
{{- end -}}

{{/* ServiceAccount name: (dict "ctx" $ "serviceAccount" .Values.serviceAccount) */}}
{{- define "chartgen.serviceAccountName" -}}
{{- if .serviceAccount.create -}}
{{- default (include "chartgen.fullname" .ctx) .serviceAccount.name -}}
{{- else -}}
{{- default "default" .serviceAccount.name -}}
{{- end -}}
{{- end -}}
