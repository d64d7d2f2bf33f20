{{/*
NetworkPolicy of a component. Members reach each other on the peer ports; clients reach the
client ports from any pod (policy.allowExternal) or only from pods labelled
<fullname>-client: "true" and the namespaces policy.ingressNSMatchLabels selects. Egress is
open unless policy.allowExternalEgress is false; then DNS, the peers, the API server ports
and policy.extraEgress. Ports are the pods' named container ports:
(dict "ctx" $ "name" "x" "component" "member" "peerPorts" (list "peer") "clientPorts" (list "client")
      "policy" .Values.networkPolicy)
*/}}
{{- define "chartgen.networkPolicy" -}}
{{- $members := include "chartgen.matchLabels" (dict "ctx" .ctx "component" .component) -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ .name }}
  namespace: {{ include "chartgen.namespace" .ctx }}
  labels:
    {{- include "chartgen.componentLabels" (dict "ctx" .ctx "component" .component) | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- $members | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    {{- with .peerPorts }}
    # members among themselves
    - from:
        - podSelector:
            matchLabels:
              {{- $members | nindent 14 }}
      ports:
        {{- range . }}
        - port: {{ . }}
        {{- end }}
    {{- end }}
    {{- with .clientPorts }}
    # clients
    - ports:
        {{- range . }}
        - port: {{ . }}
        {{- end }}
      {{- if not $.policy.allowExternal }}
      from:
        - podSelector:
            matchLabels:
              {{- include "chartgen.clientLabel" $.ctx | nindent 14 }}
        {{- with $.policy.ingressNSMatchLabels }}
        - namespaceSelector:
            matchLabels:
              {{- toYaml . | nindent 14 }}
          {{- with $.policy.ingressNSPodMatchLabels }}
          podSelector:
            matchLabels:
              {{- toYaml . | nindent 14 }}
          {{- end }}
        {{- end }}
      {{- end }}
    {{- end }}
    {{- with .policy.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  egress:
    {{- if .policy.allowExternalEgress }}
    - {}
    {{- else }}
    # DNS
    - ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    {{- with .peerPorts }}
    # the other members
    - to:
        - podSelector:
            matchLabels:
              {{- $members | nindent 14 }}
      ports:
        {{- range . }}
        - port: {{ . }}
        {{- end }}
    {{- end }}
    {{- with .policy.kubeAPIServerPorts }}
    # the Kubernetes API server (agents)
    - ports:
        {{- range . }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
    {{- end }}
    {{- with .policy.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- end }}
{{- end -}}
