"""The cluster's CNI: kube-router, installed after ``kind create cluster`` (kind runs with
``networking.disableDefaultCNI: true``).

Why kube-router: kind's own kindnetd enforces NetworkPolicy through nftables with NFQUEUE,
which this kernel lacks (no CONFIG_NFT_QUEUE), and the kindnetd of kind 0.33 needs a
kube-network-policies version the module proxy refuses. kube-router builds from its Go
module here and enforces NetworkPolicy with iptables + ipset, which this kernel has.
It runs with its router (pod routes between nodes over iBGP; the nodes share one bridge, so
no overlay) and its firewall (NetworkPolicy); its service proxy stays off (kube-proxy does
that), which also keeps out the code of advisory GHSA-phqm-jgc3-qf8g (service proxy only).
Each node's pods sit on a bridge (``kube-bridge``, hairpin on so a pod reaches itself
through a Service) with addresses from the node's podCIDR (host-local).
"""
from __future__ import annotations

import json

import yaml

from . import node_images

CNI_CONF = {
    "cniVersion": "0.3.0", "name": "kube-router",
    "plugins": [{"name": "kubernetes", "type": "bridge", "bridge": "kube-bridge",
                 "isDefaultGateway": True, "hairpinMode": True, "ipam": {"type": "host-local"}},
                {"type": "portmap", "capabilities": {"portMappings": True}}],
}
CONF_PATH = "/etc/cni/net.d/10-kuberouter.conflist"
LABELS = {"k8s-app": "kube-router", "tier": "node"}


def manifest(image: str | None = None) -> str:
    """kube-router's ServiceAccount, RBAC, ConfigMap and DaemonSet, as one YAML stream."""
    image = image or node_images.kube_router_ref()
    meta = {"name": "kube-router", "namespace": "kube-system", "labels": LABELS}
    read = ["get", "list", "watch"]
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "kube-router"},
         "rules": [{"apiGroups": [""], "resources": ["namespaces", "pods", "services", "nodes", "endpoints"], "verbs": read},
                   {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": read},
                   {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
                   {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
                   {"apiGroups": [""], "resources": ["services/status"], "verbs": ["update"]},
                   {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "kube-router"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kube-router"},
         "subjects": [{"kind": "ServiceAccount", "name": "kube-router", "namespace": "kube-system"}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {**meta, "name": "kube-router-cfg"},
         "data": {"cni-conf.json": json.dumps(CNI_CONF, indent=2)}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta, "spec": {
            "selector": {"matchLabels": LABELS},
            "template": {"metadata": {"labels": LABELS}, "spec": {
                "priorityClassName": "system-node-critical",
                "serviceAccountName": "kube-router",
                "hostNetwork": True,
                "tolerations": [{"operator": "Exists"}],
                "initContainers": [{
                    "name": "install-cni", "image": image, "imagePullPolicy": "IfNotPresent",
                    "command": ["/bin/sh", "-ec", f"cp /etc/kube-router/cni-conf.json {CONF_PATH}.tmp && "
                                                  f"mv {CONF_PATH}.tmp {CONF_PATH}"],
                    "volumeMounts": [{"name": "cni-conf-dir", "mountPath": "/etc/cni/net.d"},
                                     {"name": "kube-router-cfg", "mountPath": "/etc/kube-router"}]}],
                "containers": [{
                    "name": "kube-router", "image": image, "imagePullPolicy": "IfNotPresent",
                    "args": ["--run-router=true", "--run-firewall=true", "--run-service-proxy=false",
                             "--enable-overlay=false", "--enable-ibgp=true", "--bgp-graceful-restart=true",
                             "--health-port=20244", "--metrics-port=0"],
                    "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                            {"name": "KUBE_ROUTER_CNI_CONF_FILE", "value": CONF_PATH}],
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 20244},
                                      "initialDelaySeconds": 10, "periodSeconds": 5},
                    "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                    "securityContext": {"privileged": True},
                    "volumeMounts": [{"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": True},
                                     {"name": "cni-conf-dir", "mountPath": "/etc/cni/net.d"},
                                     {"name": "xtables-lock", "mountPath": "/run/xtables.lock"}]}],
                "volumes": [{"name": "lib-modules", "hostPath": {"path": "/lib/modules"}},
                            {"name": "cni-conf-dir", "hostPath": {"path": "/etc/cni/net.d"}},
                            {"name": "kube-router-cfg", "configMap": {"name": "kube-router-cfg"}},
                            {"name": "xtables-lock", "hostPath": {"path": "/run/xtables.lock", "type": "FileOrCreate"}}],
            }}}},
    ]
    return yaml.safe_dump_all(objects, sort_keys=False)
