"""The fault catalogue: one function per fault, used by the e2e scenarios, the multi-node
scenarios and the bench alike (tests/scenario.py runs a fault against a release while its
driver's writer writes). A fault starts, does its harm, and returns when the harm is over
(a frozen pod thawed, a node started again); it checks what it is about on the way (a drained
member is evicted, a second drain is refused, a stopped node's member stays bound to it).

A new fault = one function registered with @fault; it runs for every driver.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from tests.drivers import Release


@dataclass(frozen=True)
class Fault:
    name: str
    run: Callable[[Release, object, int], dict]
    doc: str
    disruptive: bool = False      # touches nodes or the whole cluster: runs alone, once for every release
    needs: str = ""               # "" | "this machine" (the nodes' cgroups/netns) | "kind" | "workers"
    e2e: bool = True              # False: the bench only (what the e2e suite's time on 2 cores allows)


FAULTS: dict[str, Fault] = {}
FREEZE_SECONDS = 30.0
CUT_SECONDS = 30.0
API_DOWN_SECONDS = 60.0
# the heavy part of a round (a helm test's pods, a roll, five members) one release at a time: three
# releases doing it at once starve this machine's 2 cores until untouched members' probes time out
# (reentrant: a scale's helm test runs inside its five-member part)
ONE_AT_A_TIME = threading.RLock()


def fault(name: str, disruptive: bool = False, needs: str = "", e2e: bool = True):
    def register(fn):
        FAULTS[name] = Fault(name, fn, (fn.__doc__ or "").strip().splitlines()[0], disruptive, needs, e2e)
        return fn
    return register


def skip_reason(f: Fault, cluster, kube) -> str:
    """'' when CLUSTER can have fault F, else why not."""
    if f.needs in ("this machine", "kind") and not cluster.on_this_machine:
        return f"{f.name} needs the nodes' cgroups and containers on this machine (--cluster=kind)"
    if f.needs == "workers" and len(kube.workers()) < 3:
        return f"{f.name} needs 3 schedulable worker nodes (--cluster=kind)"
    return ""


@fault("pod-deleted")
def pod_deleted(r: Release, cluster, n: int) -> dict:
    """The leader's pod deleted, with its grace period (the preStop handover runs)."""
    leader = r.leader()
    r.kube.core.delete_namespaced_pod(leader, r.ns)
    return {"leader": leader}


def _held(harm, seconds: float) -> None:
    """HARM(True), SECONDS later HARM(False), whatever happens meanwhile (a harm that failed
    half-way is undone too)."""
    try:
        harm(True)
        time.sleep(seconds)
    finally:
        harm(False)


@fault("pod-frozen", needs="this machine")
def pod_frozen(r: Release, cluster, n: int) -> dict:
    """The leader's processes cgroup-frozen for 30 s, then thawed (a hung node, as its pods see it)."""
    leader = r.leader()
    _held(lambda on: r.kube.freeze(r.ns, leader, on), FREEZE_SECONDS)
    return {"leader": leader}


@fault("leader-cut-off", needs="this machine")
def leader_cut_off(r: Release, cluster, n: int) -> dict:
    """The leader's network cut for 30 s (its processes keep running): no peer, client, probe or
    API server reaches it, it reaches none of them."""
    leader = r.leader()
    _held(lambda on: r.kube.cut_off(r.ns, leader, on), CUT_SECONDS)
    return {"leader": leader}


@fault("all-pods-deleted")
def all_pods_deleted(r: Release, cluster, n: int) -> dict:
    """Every member's pod deleted at once (immediately: a full-cluster restart)."""
    for pod in r.kube.pods(r.ns, r.selector):
        r.kube.core.delete_namespaced_pod(pod.metadata.name, r.ns, grace_period_seconds=0)
    return {}


# the bench only (the e2e suite's time on 2 cores): the member-level tests lose an etcd member's
# data and seed MySQL replicas into empty volumes
@fault("member-volume-lost", e2e=False)
def member_volume_lost(r: Release, cluster, n: int) -> dict:
    """A replica's volume lost: its PVC and its pod deleted; it comes back empty and must be
    seeded again (and never start a second cluster)."""
    leader = r.leader()
    victim = next(p for p in reversed(r.pods(n)) if p != leader)
    claim = f"data-{victim}"
    r.kube.core.delete_namespaced_persistent_volume_claim(claim, r.ns)
    r.kube.core.delete_namespaced_pod(victim, r.ns, grace_period_seconds=0)
    r.kube.wait(f"{victim} on a new volume", lambda: any(
        c.metadata.name == claim and c.metadata.deletion_timestamp is None and c.status.phase == "Bound"
        for c in r.kube.core.list_namespaced_persistent_volume_claim(r.ns).items), timeout=300, interval=2)
    return {"member": victim}


@fault("rolling-upgrade")
def rolling_upgrade(r: Release, cluster, n: int) -> dict:
    """A helm upgrade that rolls every pod (a changed setting), its generated Secrets kept."""
    secrets = {s.metadata.name: s.data for s in r.kube.core.list_namespaced_secret(r.ns).items
               if s.metadata.name.startswith(f"{r.name}-") and s.type == "Opaque"}
    uids = {p.metadata.name: p.metadata.uid for p in r.kube.pods(r.ns, r.selector)}
    fewest, done = [n, []], threading.Event()
    started = time.monotonic()

    def watch() -> None:   # a roll takes one member at a time: a majority stays ready throughout
        while not done.is_set():
            try:
                pods = r.kube.pods(r.ns, r.selector)
                not_ready = [p for p in pods if not r.kube.ready(p)]
                if len(pods) - len(not_ready) < fewest[0]:
                    fewest[0] = len(pods) - len(not_ready)
                    fewest[1] = [f"{time.monotonic() - started:.0f} s: {fewest[0]} ready"] + [
                        f"{p.metadata.name} deleting={p.metadata.deletion_timestamp is not None} "
                        + " ".join(f"{c.name}:ready={c.ready}" for c in p.status.container_statuses or [])
                        for p in not_ready]
            except Exception:  # noqa: BLE001 - a failed look is not a finding
                pass
            time.sleep(0.3)

    watcher = threading.Thread(target=watch, daemon=True)
    with ONE_AT_A_TIME:
        watcher.start()
        try:
            r.upgrade({**r.driver.upgrade_change, "podAnnotations": {"chartgen.io/test-run": str(time.time())}})
            r.kube.wait("every pod replaced", lambda: all(p.metadata.uid != uids.get(p.metadata.name)
                                                          for p in r.kube.pods(r.ns, r.selector)), timeout=600)
        finally:
            done.set()
            watcher.join()
    for name, data in secrets.items():
        assert r.kube.core.read_namespaced_secret(name, r.ns).data == data, f"Secret {name} changed in the upgrade"
    assert fewest[0] >= n // 2 + 1, (f"the majority was lost during the roll: {fewest[0]} of {n} ready; "
                                     + "; ".join(fewest[1] + r.kube.probe_failures(r.ns, r.pods(n))))
    return {"fewest_ready": fewest[0]}


@fault("drain", disruptive=True, needs="workers")
def drain(r: Release, cluster, n: int) -> dict:
    """`kubectl drain` of a replica's node; a second drain (the leader's node) is refused by the
    PodDisruptionBudget while the first member is away; then both nodes uncordoned."""
    where = r.kube.placement(r.ns, r.selector)
    leader = r.leader()
    first = next(p for p in r.pods(n) if p != leader)
    t0 = time.monotonic()
    done = r.kube.kubectl("drain", where[first], "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=180s",
                          timeout=240)
    try:
        assert done.returncode == 0, done.stderr
        seconds = time.monotonic() - t0
        r.kube.wait(f"{first} evicted", lambda: first not in r.kube.ready_names(r.ns, r.selector), timeout=60)
        refused = r.kube.kubectl("drain", where[leader], "--ignore-daemonsets", "--delete-emptydir-data",
                                 "--timeout=30s", timeout=90)
        assert refused.returncode != 0, "a second drain went through: the majority was not protected"
        assert "disruption budget" in refused.stderr, refused.stderr
        assert leader in r.kube.ready_names(r.ns, r.selector)
    finally:
        r.kube.kubectl("uncordon", where[first], where[leader])
    return {"drained": where[first], "drain_s": round(seconds, 1)}


@fault("node-stopped", disruptive=True, needs="kind")
def node_stopped(r: Release, cluster, n: int) -> dict:
    """The leader's node stopped (its container: kubelet and pods gone silent) until it is
    NotReady and a while after, then started; its member stays bound to it meanwhile."""
    leader = r.leader()
    node = r.kube.placement(r.ns, r.selector)[leader]
    t0 = time.monotonic()
    cluster.node(node, "stop")
    try:
        r.kube.wait(f"{node} NotReady", lambda: not r.kube.node_ready(node), timeout=180, interval=2)
        not_ready = time.monotonic() - t0
        for _ in range(5):   # a StatefulSet's pod on a NotReady node is not moved
            assert r.kube.placement(r.ns, r.selector)[leader] == node, f"{leader} moved off the NotReady {node}"
            time.sleep(2)
    finally:
        cluster.node(node, "start")
    r.kube.wait(f"{node} Ready", lambda: r.kube.node_ready(node), timeout=180, interval=2)
    return {"leader": leader, "node": node, "not_ready_s": round(not_ready, 1)}


@fault("api-unreachable", disruptive=True, needs="kind")
def api_unreachable(r: Release, cluster, n: int) -> dict:
    """The Kubernetes API unreachable from every node for 60 s (the API server's port dropped
    for everything but the control plane's own components): agents, kubelets and kube-proxy
    lose it; the data path stays."""
    cp = r.kube.control_plane()
    rule = ["INPUT", "-p", "tcp", "--dport", "6443", "!", "-i", "lo", "-j", "DROP"]
    _held(lambda on: cluster.on_node(cp, "iptables", "-w", "-I" if on else "-D", *rule), API_DOWN_SECONDS)
    r.kube.wait("the API answers again", lambda: r.kube.core.list_namespace() is not None, timeout=120)
    return {}


SIDE_BY_SIDE = [f for f in FAULTS.values() if not f.disruptive and f.e2e]
ALONE = [f for f in FAULTS.values() if f.disruptive and f.e2e]
