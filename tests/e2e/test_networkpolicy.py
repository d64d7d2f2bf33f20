"""The cluster enforces NetworkPolicy (the charts are about to ship policies on by default): a
server pod, a policy that admits only pods labelled as its clients, and two client pods, one
with the label and one without. Both connect before the policy; after it, only the labelled one."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("networkpolicy"), pytest.mark.timeout(600)]

NAMESPACE = "chartgen-e2e-netpol"
PORT = 6379


def pod(name: str, labels: dict, image: dict, command: list[str]) -> dict:
    ref = f"{image['registry']}/{image['repository']}:{image['tag']}"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                "name": "main", "image": ref, "imagePullPolicy": image.get("pullPolicy", "IfNotPresent"),
                "command": command, "securityContext": {"runAsUser": 999, "runAsGroup": 999}}]}}


def can_connect(kube, client: str, server_ip: str) -> bool:
    out = kube.exec(NAMESPACE, client, "main",
                    ["sh", "-c", f"timeout 4 redis-cli -h {server_ip} -p {PORT} PING 2>&1 || echo REFUSED"])
    return "PONG" in out


def test_policy_admits_the_labelled_client_and_refuses_the_other(cluster, kube):
    image = cluster.images({"image": "redis"}).get("image")
    if not image:
        pytest.skip("needs the locally built redis test image (--cluster=kind or --cluster=local)")
    kube.core.create_namespace({"metadata": {"name": NAMESPACE}})
    sleep = ["sleep", "3600"]
    kube.core.create_namespaced_pod(NAMESPACE, pod("server", {"app": "server"}, image, [
        "redis-server", "--port", str(PORT), "--protected-mode", "no", "--save", "", "--dir", "/tmp"]))
    kube.core.create_namespaced_pod(NAMESPACE, pod("allowed", {"role": "client"}, image, sleep))
    kube.core.create_namespaced_pod(NAMESPACE, pod("refused", {"role": "other"}, image, sleep))
    for name in ("server", "allowed", "refused"):
        kube.wait(f"{name} ready", lambda name=name: kube.ready(kube.core.read_namespaced_pod(name, NAMESPACE)),
                  timeout=180)
    server_ip = kube.core.read_namespaced_pod("server", NAMESPACE).status.pod_ip
    assert can_connect(kube, "allowed", server_ip) and can_connect(kube, "refused", server_ip), \
        "without a policy both clients must connect"

    from kubernetes import client

    client.NetworkingV1Api(kube.api_client).create_namespaced_network_policy(NAMESPACE, {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "server-clients"},
        "spec": {"podSelector": {"matchLabels": {"app": "server"}}, "policyTypes": ["Ingress"],
                 "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                              "ports": [{"protocol": "TCP", "port": PORT}]}]}})
    kube.wait("the unlabelled client is refused", lambda: not can_connect(kube, "refused", server_ip),
              timeout=60, interval=2)
    assert can_connect(kube, "allowed", server_ip), "the labelled client lost its access"
    for _ in range(3):   # it stays refused
        assert not can_connect(kube, "refused", server_ip)
