"""Helpers for the multi-node scenarios (kind: 1 control plane + 3 workers in two zones):
where pods run, draining and cordoning nodes with the real kubectl, stopping and starting a
node's container, and a writer that records which writes were acknowledged, with when."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.kube import Kube

ZONE_LABEL = "topology.kubernetes.io/zone"


def require_workers(kube: Kube, n: int = 3) -> list[str]:
    """The cluster's schedulable worker nodes; skip (saying why) when there are fewer than N."""
    workers = worker_nodes(kube)
    if len(workers) < n:
        pytest.skip(f"needs {n} schedulable worker nodes, this cluster has {len(workers)} "
                    f"({', '.join(workers) or 'none'}): run with --cluster=kind")
    return workers


def worker_nodes(kube: Kube) -> list[str]:
    out = []
    for node in kube.core.list_node().items:
        taints = [t.key for t in (node.spec.taints or [])]
        if "node-role.kubernetes.io/control-plane" not in taints and not node.spec.unschedulable:
            out.append(node.metadata.name)
    return sorted(out)


def node_zone(kube: Kube) -> dict[str, str | None]:
    return {n.metadata.name: (n.metadata.labels or {}).get(ZONE_LABEL) for n in kube.core.list_node().items}


def placement(kube: Kube, ns: str, selector: str) -> dict[str, str | None]:
    """pod -> node it is bound to (None while unscheduled)."""
    return {p.metadata.name: p.spec.node_name for p in kube.pods(ns, selector)}


def node_ready(kube: Kube, node: str) -> bool:
    conds = kube.core.read_node(node).status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conds)


def kubectl(kubeconfig: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real kubectl (the one built with the cluster) against KUBECONFIG."""
    from localkube import build as lkbuild

    exe = lkbuild.build_kubernetes() / "kubectl"
    return subprocess.run([str(exe), "--kubeconfig", str(kubeconfig), *args], capture_output=True,
                          text=True, timeout=timeout)


def drain(kubeconfig: Path, node: str, timeout_s: int) -> subprocess.CompletedProcess:
    return kubectl(kubeconfig, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                   f"--timeout={timeout_s}s", timeout=timeout_s + 60)


def uncordon(kubeconfig: Path, *nodes: str) -> None:
    for node in nodes:
        kubectl(kubeconfig, "uncordon", node)


def node_container(node: str):
    """docker stop/start of a kind node (the project's engine); pytest skips on other clusters."""
    from kindkube import dockerd

    def run(verb: str) -> None:
        dockerd.docker(verb, node, timeout=300)
    return run


def pending_reasons(kube: Kube, ns: str, pod: str) -> list[str]:
    """The pod's FailedScheduling event messages."""
    events = kube.core.list_namespaced_event(ns, field_selector=f"involvedObject.name={pod}").items
    return [e.message for e in events if e.reason == "FailedScheduling"]


class AckWriter(threading.Thread):
    """Runs SCRIPT in a pod (KUBE.exec, own API client) for SECONDS: a shell loop that prints
    one line per write, '<i> <epoch-ms> OK' when acknowledged. Keeps acked keys and times."""

    def __init__(self, kubeconfig: Path, ns: str, pod: str, container: str, script: str, seconds: int):
        super().__init__(daemon=True)
        self.kube, self.ns, self.pod, self.container = Kube(kubeconfig), ns, pod, container
        self.script, self.seconds = script, seconds
        self.acked: dict[int, float] = {}   # i -> when (s since epoch)
        self.failed = 0
        self.error: Exception | None = None
        self.output = ""

    def run(self):
        try:
            self.output = self.kube.exec(self.ns, self.pod, self.container, ["sh", "-c", self.script],
                                         timeout=self.seconds + 120)
        except Exception as err:  # noqa: BLE001 - reported by the test
            self.error = err
            return
        for line in self.output.splitlines():
            f = line.split()
            if len(f) >= 3 and f[0].isdigit() and f[2] == "OK":
                self.acked[int(f[0])] = int(f[1]) / 1000
            elif f and f[0].isdigit():
                self.failed += 1

    def longest_gap(self, start: float, end: float) -> float:
        """Longest time without an acknowledged write between START and END (epoch s)."""
        times = sorted(t for t in self.acked.values() if start <= t <= end)
        points = [start, *times, end]
        return max(b - a for a, b in zip(points, points[1:]))


def epoch() -> float:
    return time.time()


def on_kind(cluster) -> None:
    if cluster.kind != "kind":
        pytest.skip(f"stops a node's container: needs --cluster=kind (this run uses --cluster={cluster.kind})")


def uninstall(helm, release: str, namespace: str) -> None:
    """Uninstall RELEASE if it is there (a run of some of the tests may not have made it)."""
    from chartgen.errors import UnknownReleaseError

    try:
        helm.uninstall(release, namespace, wait=True)
    except UnknownReleaseError:
        pass

