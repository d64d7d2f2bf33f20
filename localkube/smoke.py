"""End-to-end smoke check of a running cluster (what the chart e2e suite relies on):
StatefulSet of 3 with PVCs, headless Service with publishNotReadyAddresses, pod FQDN
resolution inside a pod, a ClusterIP Service reaching a pod. Cleans up after itself."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from . import cluster, images
from .build import log

NS = "localkube-smoke"


def manifest(image: str) -> str:
    # `etcd` in the pod serves on :2379; the ClusterIP check hits /version through the Service
    return f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: Service
metadata: {{name: peers, namespace: {NS}}}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {{app: smoke}}
  ports: [{{name: peer, port: 2380}}]
---
apiVersion: v1
kind: Service
metadata: {{name: client, namespace: {NS}}}
spec:
  selector: {{app: smoke}}
  ports: [{{name: client, port: 2379, targetPort: 2379}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: smoke, namespace: {NS}}}
spec:
  serviceName: peers
  replicas: 3
  podManagementPolicy: Parallel
  selector: {{matchLabels: {{app: smoke}}}}
  template:
    metadata: {{labels: {{app: smoke}}}}
    spec:
      terminationGracePeriodSeconds: 2
      securityContext: {{runAsUser: 1001, runAsGroup: 1001, fsGroup: 1001}}
      containers:
      - name: etcd
        image: {image}
        imagePullPolicy: Never
        command: [sh, -c]
        args:
        - echo hello > /data/hello && exec etcd --data-dir /data/etcd
          --listen-client-urls http://0.0.0.0:2379 --advertise-client-urls http://$(hostname):2379
        volumeMounts: [{{name: data, mountPath: /data}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {{requests: {{storage: 64Mi}}}}
"""


def _wait(what: str, fn, timeout: float = 120):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except cluster.ClusterError as e:
            last = e
        time.sleep(1)
    raise cluster.ClusterError(f"smoke: timed out waiting for {what} (last: {last})")


def run(state: Path | str | None = None, keep: bool = False) -> dict:
    kc = lambda *a, **k: cluster.kubectl(*a, state=state, **k)  # noqa: E731
    ref = images.image("etcd", cluster.Layout(cluster.state_dir(state)).containerd_sock)
    t0 = time.monotonic()
    kc("apply", "-f", "-", input=manifest(ref))
    results = {}

    def pods_running():
        pods = json.loads(kc("get", "pods", "-n", NS, "-o", "json"))["items"]
        ok = [p for p in pods if p["status"].get("phase") == "Running" and p["status"].get("podIP")]
        return {p["metadata"]["name"]: p["status"]["podIP"] for p in ok} if len(ok) == 3 else None

    results["pod_ips"] = _wait("3 running pods with IPs", pods_running, 180)
    results["seconds_to_running"] = round(time.monotonic() - t0, 1)
    pvcs = json.loads(kc("get", "pvc", "-n", NS, "-o", "json"))["items"]
    results["pvcs"] = {p["metadata"]["name"]: p["status"]["phase"] for p in pvcs}
    assert all(v == "Bound" for v in results["pvcs"].values()) and len(pvcs) == 3, results["pvcs"]
    results["pvc_write"] = kc("exec", "-n", NS, "smoke-0", "--", "cat", "/data/hello").strip()
    fqdn = f"smoke-1.peers.{NS}.svc.cluster.local"
    out = _wait(f"getent hosts {fqdn} in smoke-0",
                lambda: kc("exec", "-n", NS, "smoke-0", "--", "getent", "hosts", fqdn), 60)
    results["getent"] = out.strip()
    assert results["getent"].split()[0] == results["pod_ips"]["smoke-1"], results
    out = kc("exec", "-n", NS, "smoke-0", "--", "getent", "hosts",
             f"client.{NS}.svc.cluster.local")
    results["client_service"] = out.strip()
    svc_ip = out.split()[0]
    ver = _wait("etcdctl through the ClusterIP Service",
                lambda: kc("exec", "-n", NS, "smoke-2", "--", "etcdctl",
                           f"--endpoints=http://{svc_ip}:2379", "endpoint", "health"), 60)
    results["clusterip_from_pod"] = ver.strip()
    with socket.create_connection((svc_ip, 2379), timeout=5) as conn:
        conn.sendall(b"GET /version HTTP/1.0\r\n\r\n")
        results["clusterip_from_host"] = conn.recv(4096).decode(errors="replace").splitlines()[-1]
    log(f"smoke passed: {json.dumps(results)}")
    if not keep:
        kc("delete", "namespace", NS, "--wait=true", "--timeout=120s")
        _wait("PVs released and deleted",
              lambda: not [pv for pv in json.loads(kc("get", "pv", "-o", "json"))["items"]
                           if pv["spec"].get("claimRef", {}).get("namespace") == NS], 60)
    return results
