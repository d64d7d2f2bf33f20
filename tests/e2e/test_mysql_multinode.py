"""MySQL (the mariadb flavor: the one that runs here) on several nodes (kind: 1 control plane +
3 workers, zones a, a, b): hard anti-affinity places one member per node, 5 members on 3
workers leave 2 Pending, a drain keeps the semi-sync replica the primary needs and the
PodDisruptionBudget refuses a second one, the primary's node stopped (a replica on another node
takes the Lease and the writes, the old primary stays bound to its NotReady node and returns as a
replica with every acknowledged write), topology spread over zones. INSERTs through the primary
Service run throughout; every write whose commit returned (lossless semi-sync: a replica has it)
is checked afterwards. The tests run in order."""

from __future__ import annotations

import json
import re
import time

import pytest

import chartgen
from tests.e2e import multinode as mn
from tests.e2e.test_mysql import Ctx, ids, labels, settled, sql_cmd
from tests.publish.conftest import chartgen as chartgen_cli

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive, pytest.mark.timeout(900), pytest.mark.usefixtures("workers")]

NAMESPACE = "chartgen-e2e-mysql-nodes"
PRESET = RELEASE = "mysql"         # pods mysql-0..2, Services mysql-primary / mysql-headless
FLAVOR = "mariadb"
CTX = Ctx(FLAVOR, NAMESPACE)
FIGURES: dict[str, float] = {}


def selector(release: str) -> str:
    return f"app.kubernetes.io/instance={release},app.kubernetes.io/component=member"


SELECTOR = selector(RELEASE)


@pytest.fixture(scope="module")
def chart(tmp_path_factory):
    return chartgen.generate(PRESET, PRESET, flavor=FLAVOR, output=tmp_path_factory.mktemp("e2e") / FLAVOR)


@pytest.fixture(scope="module")
def values(cluster):
    return {"persistence": {"size": "1Gi"}, **cluster.image_values.get(f"mysql-{FLAVOR}", {})}


def primary(kube, n: int = 3, what: str = "settled", timeout: float = 300) -> str:
    return settled(kube, CTX, n, what, timeout=timeout)


def writer(cluster, via: str, first: int) -> mn.AckWriter:
    """INSERTs through the primary Service from member VIA (its own root option file), one
    connection per statement, until /tmp/stop-writer exists there; 'OK' once the commit returned."""
    insert = sql_cmd(CTX, "INSERT INTO e2e.acked (id) VALUES ($i)", CTX.primary_svc, secs=5).replace(
        "'INSERT INTO e2e.acked (id) VALUES ($i)'", '"INSERT INTO e2e.acked (id) VALUES ($i)"')
    script = (f"rm -f /tmp/stop-writer; end=$(($(date +%s) + 600)); i={first}; "
              "while [ ! -f /tmp/stop-writer ] && [ $(date +%s) -lt $end ]; do "
              f"if {insert} >/dev/null 2>&1; then echo \"$i $(date +%s%3N) OK\"; "
              "else echo \"$i $(date +%s%3N) FAIL\"; sleep 0.2; fi; i=$((i+1)); done")
    return mn.AckWriter(cluster.kubeconfig, NAMESPACE, via, "mysql", script, seconds=600)


def stop_writer(kube, w: mn.AckWriter) -> None:
    kube.exec(NAMESPACE, w.pod, "mysql", ["touch", "/tmp/stop-writer"])
    w.join(60)
    assert not w.is_alive(), "the writer did not stop"
    assert w.error is None, w.error


def test_hard_anti_affinity_places_three_members_on_three_nodes(chart, helm, kube, values, workers):
    helm.install_or_upgrade(RELEASE, chart.path, NAMESPACE, {**values, "podAntiAffinityPreset": "hard"},
                            wait=True, timeout="10m")
    p = primary(kube, what="install")
    where = mn.placement(kube, NAMESPACE, SELECTOR)
    print(f"\nplacement: {where}, primary {p}")
    assert len(set(where.values())) == 3 and set(where.values()) <= set(workers)
    out = kube.exec(NAMESPACE, p, "mysql", ["sh", "-c", sql_cmd(CTX, "CREATE DATABASE e2e; CREATE TABLE e2e.acked "
                                                                 "(id BIGINT PRIMARY KEY)") + " 2>&1"])
    assert out.strip() == "", out


def test_drain_keeps_a_replica_pdb_blocks_second_drain_writes_acknowledged(cluster, kube):
    p = primary(kube)
    where = mn.placement(kube, NAMESPACE, SELECTOR)
    first, via = [x for x in CTX.pods(3) if x != p]   # a replica's node, then the primary's
    w = writer(cluster, via, 100_000)
    w.start()
    time.sleep(3)
    t0 = mn.epoch()
    try:
        done = mn.drain(cluster.kubeconfig, where[first], 180)
        assert done.returncode == 0, done.stderr
        kube.wait(f"{first} evicted", lambda: first not in kube.ready_names(NAMESPACE, SELECTOR), timeout=90)
        refused = mn.drain(cluster.kubeconfig, where[p], 30)
        assert refused.returncode != 0, "a second drain went through: the PodDisruptionBudget did not hold"
        assert "disruption budget" in refused.stderr, refused.stderr
        assert p in kube.ready_names(NAMESPACE, SELECTOR)
    finally:
        mn.uncordon(cluster.kubeconfig, where[first], where[p])
    after = primary(kube, what="after uncordon")
    time.sleep(3)
    t1 = mn.epoch()
    stop_writer(kube, w)
    gap = w.longest_gap(t0, t1)
    FIGURES["drain_longest_write_gap_s"] = gap
    print(f"\ndrained {where[first]}, second drain refused; {len(w.acked)} writes acknowledged, "
          f"{w.failed} failed, longest gap {gap:.1f}s")
    assert after == p, f"the primary moved in a replica's drain: {p} -> {after}"
    assert len(w.acked) > 50
    assert gap < 15, f"writes stalled for {gap:.1f}s during the drains"
    have = ids(kube, CTX, after)
    assert set(w.acked) <= have, f"acknowledged writes lost: {sorted(set(w.acked) - have)[:10]}"
    kube.wait(f"{first} caught up", lambda: set(w.acked) <= ids(kube, CTX, first), timeout=120)


def test_primary_node_stopped_replica_takes_over_old_primary_returns_as_replica(cluster, kube):
    mn.on_kind(cluster)
    old = primary(kube)
    node = mn.placement(kube, NAMESPACE, SELECTOR)[old]
    via = next(x for x in CTX.pods(3) if x != old)
    w = writer(cluster, via, 200_000)
    w.start()
    time.sleep(3)
    t0 = mn.epoch()
    docker = mn.node_container(node)
    docker("stop")
    try:
        # the Lease expires; a replica on another node takes it, and the primary Service follows the role label
        probe = sql_cmd(CTX, "SELECT @@report_host, @@read_only", CTX.primary_svc, secs=3)

        def new_primary():
            out = kube.exec(NAMESPACE, via, "mysql", ["sh", "-c", probe + " 2>/dev/null || true"]).split()
            return out[0].split(".")[0] if len(out) == 2 and out[1] == "0" and not out[0].startswith(old) else None
        new = kube.wait("a replica on another node is primary behind the Service", new_primary, timeout=180, interval=1)
        FIGURES["primary_node_stopped_to_new_primary_s"] = mn.epoch() - t0
        kube.wait(f"{node} NotReady", lambda: not mn.node_ready(kube, node), timeout=120, interval=2)
        for _ in range(5):
            now = mn.placement(kube, NAMESPACE, SELECTOR)
            assert now[old] == node and len(now) == 3, f"{old} moved while {node} was NotReady: {now}"
            time.sleep(2)
        assert labels(kube, CTX)[new] == "primary"
    finally:
        docker("start")
    back = primary(kube, what="after the node returned")
    assert back == new, f"the primary moved again: {new} -> {back}"
    assert labels(kube, CTX)[old] == "replica", "the old primary did not return as a replica"
    t1 = mn.epoch()
    stop_writer(kube, w)
    print(f"\nprimary {old}'s node {node} stopped: {new} primary after "
          f"{FIGURES['primary_node_stopped_to_new_primary_s']:.1f}s; {len(w.acked)} writes acknowledged, "
          f"{w.failed} failed, longest gap {w.longest_gap(t0, t1):.1f}s")
    assert any(at > t0 + FIGURES["primary_node_stopped_to_new_primary_s"] for at in w.acked.values()), \
        "no write acknowledged after the failover"
    have = ids(kube, CTX, new)
    lost = set(w.acked) - have
    assert not lost, f"{len(lost)} acknowledged writes lost: {sorted(lost)[:10]}"
    kube.wait(f"{old} has every acknowledged write", lambda: set(w.acked) <= ids(kube, CTX, old), timeout=120)
    log = kube.core.read_namespaced_pod_log(old, NAMESPACE, container="agent")
    print("old primary: " + ("re-cloned" if "re-cloning this member" in log else "rejoined without a clone"))


def test_five_members_hard_anti_affinity_on_three_workers_two_pending(cluster, chart, helm, kube, values, workers):
    mn.uninstall(helm, RELEASE, NAMESPACE)
    five = "mysql5"
    helm.install_or_upgrade(five, chart.path, NAMESPACE,
                            {**values, "replicaCount": 5, "podAntiAffinityPreset": "hard"}, wait=False)
    kube.wait("3 ready members", lambda: len(kube.ready_names(NAMESPACE, selector(five))) == 3, timeout=300)
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
    mn.uninstall(helm, "mysql5", NAMESPACE)
    zoned = "mysqlz"
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
    print(f"\nmembers per zone: {per_zone}")
    assert sorted(per_zone.values()) == [2, 3], per_zone
    kube.wait("5 ready members", lambda: len(kube.ready_names(NAMESPACE, selector(zoned))) == 5, timeout=300)
    helm.uninstall(zoned, NAMESPACE, wait=True)
    print(f"figures: {json.dumps({k: round(v, 1) for k, v in FIGURES.items()})}")
