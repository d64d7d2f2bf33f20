"""Redis + Sentinel on several nodes (kind: 1 control plane + 3 workers, zones a, a, b): hard
anti-affinity places one pod per node, 5 pods on 3 workers leave 2 Pending, a drain keeps the
sentinels' majority and the PodDisruptionBudget refuses a second one, the master's node stopped
(a replica on another node takes over, the old master returns as its replica), topology spread
over zones. Writes through the master Service (SET + WAIT 1) run throughout; every write a
replica acknowledged is checked afterwards. The tests run in order."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.e2e import multinode as mn
from tests.publish.conftest import chartgen as chartgen_cli

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive, pytest.mark.timeout(900), pytest.mark.usefixtures("workers")]

NAMESPACE = "chartgen-e2e-redis-nodes"
PRESET = RELEASE = "redis"         # pods redis-node-0..2, Services redis-master / redis-headless
PODS = [f"redis-node-{i}" for i in range(3)]
ROLE_LABEL = "chartgen.io/role"
MASTER_SVC = f"redis-master.{NAMESPACE}.svc.cluster.local"
FIGURES: dict[str, float] = {}


def selector(release: str) -> str:
    return f"app.kubernetes.io/instance={release},app.kubernetes.io/component=member"


def fqdn(pod: str) -> str:
    return f"{pod}.redis-headless.{NAMESPACE}.svc.cluster.local"


def uninstall(helm, release: str) -> None:
    mn.uninstall(helm, release, NAMESPACE)


def cli(host: str = "127.0.0.1", secs: int = 5) -> str:
    return f'REDISCLI_AUTH="$REDIS_PASSWORD" timeout {secs} redis-cli --no-auth-warning -h {host} -p 6379'


def sh(kube, pod: str, script: str, timeout: int = 60) -> str:
    return kube.exec(NAMESPACE, pod, "redis", ["sh", "-c", script], timeout=timeout)


def role(kube, pod: str) -> tuple[str, str | None]:
    r = json.loads(sh(kube, pod, cli() + " --json ROLE"))
    return (r[0], None) if r[0] == "master" else (r[0], r[1])


def settled_master(kube) -> str | None:
    """The master when 3 pods are ready, one labelled and acting master, the others its replicas."""
    if len(kube.ready_names(NAMESPACE, selector(RELEASE))) != 3:
        return None
    labels = {p.metadata.name: (p.metadata.labels or {}).get(ROLE_LABEL) for p in kube.pods(NAMESPACE, selector(RELEASE))}
    masters = [p for p, r in labels.items() if r == "master"]
    if len(masters) != 1:
        return None
    m = masters[0]
    roles = {p: role(kube, p) for p in PODS}
    if roles[m] != ("master", None) or any(roles[p] != ("slave", fqdn(m)) for p in PODS if p != m):
        return None
    return m


def keys(kube, pod: str, prefix: str) -> set[int]:
    out = sh(kube, pod, cli() + f" --scan --pattern '{prefix}*'")
    return {int(k[len(prefix):]) for k in out.split() if k.startswith(prefix)}


def writer(cluster, via: str, prefix: str) -> mn.AckWriter:
    """SET + WAIT 1 through the master Service, one connection per write, until
    /tmp/stop-writer exists in VIA; 'OK' only when a replica acknowledged the write."""
    script = ("rm -f /tmp/stop-writer; end=$(($(date +%s) + 600)); i=0; "
              "while [ ! -f /tmp/stop-writer ] && [ $(date +%s) -lt $end ]; do "
              f"set -- $(printf 'SET {prefix}%d v\\nWAIT 1 1000\\n' $i | {cli(MASTER_SVC, 3)} 2>&1); "
              "if [ \"${1:-}\" = OK ] && [ \"${2:-0}\" -ge 1 ] 2>/dev/null; "
              "then echo \"$i $(date +%s%3N) OK\"; else echo \"$i $(date +%s%3N) FAIL\"; sleep 0.2; fi; "
              "i=$((i+1)); done")
    return mn.AckWriter(cluster.kubeconfig, NAMESPACE, via, "redis", script, seconds=600)


def stop_writer(kube, w: mn.AckWriter) -> None:
    kube.exec(NAMESPACE, w.pod, "redis", ["touch", "/tmp/stop-writer"])
    w.join(60)
    assert not w.is_alive(), "the writer did not stop"
    assert w.error is None, w.error


def test_hard_anti_affinity_places_three_pods_on_three_nodes(chart, helm, kube, values, workers):
    helm.install_or_upgrade(RELEASE, chart.path, NAMESPACE, {**values, "podAntiAffinityPreset": "hard"},
                            wait=True, timeout="10m")
    m = kube.wait("one master, two replicas", lambda: settled_master(kube), timeout=180)
    where = mn.placement(kube, NAMESPACE, selector(RELEASE))
    print(f"\nplacement: {where}, master {m}")
    assert len(set(where.values())) == 3 and set(where.values()) <= set(workers)


def test_drain_keeps_majority_pdb_blocks_second_drain_writes_acknowledged(cluster, kube):
    m = kube.wait("settled", lambda: settled_master(kube), timeout=120)
    where = mn.placement(kube, NAMESPACE, selector(RELEASE))
    replicas = [p for p in PODS if p != m]
    first, second, via = replicas[0], m, replicas[1]   # a replica's node, then the master's
    w = writer(cluster, via, "drain:")
    w.start()
    time.sleep(3)
    t0 = mn.epoch()
    try:
        done = mn.drain(cluster.kubeconfig, where[first], 180)
        assert done.returncode == 0, done.stderr
        kube.wait(f"{first} evicted", lambda: first not in kube.ready_names(NAMESPACE, selector(RELEASE)), timeout=90)
        refused = mn.drain(cluster.kubeconfig, where[second], 30)
        assert refused.returncode != 0, "a second drain went through: the sentinels' majority was not protected"
        assert "disruption budget" in refused.stderr, refused.stderr
        assert second in kube.ready_names(NAMESPACE, selector(RELEASE))
    finally:
        mn.uncordon(cluster.kubeconfig, where[first], where[second])
    kube.wait("settled after uncordon", lambda: settled_master(kube), timeout=300)
    time.sleep(3)
    t1 = mn.epoch()
    stop_writer(kube, w)
    gap = w.longest_gap(t0, t1)
    FIGURES["drain_longest_write_gap_s"] = gap
    print(f"\ndrained {where[first]}, second drain refused; {len(w.acked)} writes acknowledged, "
          f"{w.failed} failed, longest gap {gap:.1f}s")
    assert len(w.acked) > 50
    assert gap < 15, f"writes stalled for {gap:.1f}s during the drains"
    master = settled_master(kube)
    have = keys(kube, master, "drain:")
    assert set(w.acked) <= have, f"acknowledged writes lost: {sorted(set(w.acked) - have)[:10]}"


def test_master_node_stopped_replica_takes_over_old_master_returns_as_replica(cluster, kube):
    mn.on_kind(cluster)
    old = kube.wait("settled", lambda: settled_master(kube), timeout=120)
    node = mn.placement(kube, NAMESPACE, selector(RELEASE))[old]
    via = next(p for p in PODS if p != old)
    w = writer(cluster, via, "stop:")
    w.start()
    time.sleep(3)
    t0 = mn.epoch()
    docker = mn.node_container(node)
    docker("stop")
    try:
        # the sentinels on the other two nodes elect a replica; the master Service follows the role label
        new = kube.wait("a replica on another node is master",
                        lambda: next((p for p in PODS if p != old and role(kube, p)[0] == "master"), None),
                        timeout=120, interval=1)
        FIGURES["master_node_stopped_to_new_master_s"] = mn.epoch() - t0
        probe = f"printf 'SET probe:node-down x\\nWAIT 1 1000\\n' | {cli(MASTER_SVC, 3)} | tr '\\n' ' '"
        kube.wait("the master Service takes writes a replica acknowledges",
                  lambda: sh(kube, via, probe).split()[:2] == ["OK", "1"], timeout=120)
        kube.wait(f"{node} NotReady", lambda: not mn.node_ready(kube, node), timeout=120, interval=2)
        for _ in range(5):
            now = mn.placement(kube, NAMESPACE, selector(RELEASE))
            assert now[old] == node and len(now) == 3, f"{old} moved while {node} was NotReady: {now}"
            time.sleep(2)
    finally:
        docker("start")
    master = kube.wait("settled after the node returned", lambda: settled_master(kube), timeout=300)
    assert master == new, f"master moved again: {new} -> {master}"
    assert role(kube, old) == ("slave", fqdn(new)), "the old master did not return as a replica"
    t1 = mn.epoch()
    stop_writer(kube, w)
    print(f"\nmaster {old}'s node {node} stopped: {new} master after "
          f"{FIGURES['master_node_stopped_to_new_master_s']:.1f}s; {len(w.acked)} writes acknowledged, "
          f"{w.failed} failed, longest gap {w.longest_gap(t0, t1):.1f}s")
    assert _acked_since(w, t0 + FIGURES["master_node_stopped_to_new_master_s"]), "no write acknowledged after the failover"
    have = keys(kube, new, "stop:")
    lost = set(w.acked) - have
    assert not lost, f"{len(lost)} acknowledged writes lost: {sorted(lost)[:10]}"
    kube.wait(f"{old} has every acknowledged write", lambda: set(w.acked) <= keys(kube, old, "stop:"), timeout=60)


def _acked_since(w: mn.AckWriter, t: float) -> bool:
    return any(at > t for at in w.acked.values())


def test_five_pods_hard_anti_affinity_on_three_workers_two_pending(cluster, chart, helm, kube, values, workers):
    uninstall(helm, RELEASE)
    five = "redis5"
    helm.install_or_upgrade(five, chart.path, NAMESPACE,
                            {**values, "replicaCount": 5, "podAntiAffinityPreset": "hard"}, wait=False)
    kube.wait("3 ready pods", lambda: len(kube.ready_names(NAMESPACE, selector(five))) == 3, timeout=300)
    where = mn.placement(kube, NAMESPACE, selector(five))
    pending = sorted(p for p, n in where.items() if n is None)
    assert len(pending) == 2 and len({n for n in where.values() if n}) == 3, where
    for pod in pending:
        why = kube.wait(f"{pod}: FailedScheduling", lambda pod=pod: mn.pending_reasons(kube, NAMESPACE, pod), timeout=60)
        print(f"\n{pod}: {why[-1]}")
        assert "didn't match pod anti-affinity rules" in why[-1], why
    status = chartgen_cli("status", five, "--kubeconfig", str(cluster.kubeconfig), "--namespace", NAMESPACE)
    print(status.stdout)
    assert status.returncode == 1 and "members healthy 3/5" in status.stdout, status.stdout + status.stderr
    for pod in pending:
        assert re.search(rf"^ +{pod} +NOT READY +role n/a +Pending, unschedulable", status.stdout, re.M), status.stdout


def test_topology_spread_over_zones_renders_and_schedules(chart, helm, kube, values):
    uninstall(helm, "redis5")
    zoned = "redisz"
    spread = [{"maxSkew": 1, "topologyKey": mn.ZONE_LABEL, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": zoned,
                                                 "app.kubernetes.io/component": "member"}}}]
    helm.install_or_upgrade(zoned, chart.path, NAMESPACE,
                            {**values, "replicaCount": 5, "podAntiAffinityPreset": "",
                             "topologySpreadConstraints": spread}, wait=True, timeout="10m")
    sts = kube.apps.list_namespaced_stateful_set(NAMESPACE, label_selector=f"app.kubernetes.io/instance={zoned}").items[0]
    rendered = kube.api_client.sanitize_for_serialization(sts.spec.template.spec.topology_spread_constraints)
    assert rendered == spread, rendered
    zones = mn.node_zone(kube)
    per_zone: dict[str, int] = {}
    for node in mn.placement(kube, NAMESPACE, selector(zoned)).values():
        per_zone[zones[node]] = per_zone.get(zones[node], 0) + 1
    print(f"\npods per zone: {per_zone}")
    assert sorted(per_zone.values()) == [2, 3], per_zone
    kube.wait("5 ready pods", lambda: len(kube.ready_names(NAMESPACE, selector(zoned))) == 5, timeout=180)
    helm.uninstall(zoned, NAMESPACE, wait=True)
    print(f"figures: {json.dumps({k: round(v, 1) for k, v in FIGURES.items()})}")
