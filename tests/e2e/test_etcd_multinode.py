"""etcd on several nodes (kind: 1 control plane + 3 workers, zones a, a, b): hard anti-affinity
places one member per node, 5 members on 3 workers leave 2 Pending, a drain keeps the
majority and the PodDisruptionBudget refuses a second one, a stopped node's member stays
bound to it and rejoins with its data, topology spread over zones. Writes run throughout
and every acknowledged one is checked afterwards. The tests run in order."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.e2e import multinode as mn
from tests.publish.conftest import chartgen as chartgen_cli

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive, pytest.mark.timeout(900), pytest.mark.usefixtures("workers")]

NAMESPACE = "chartgen-e2e-etcd-nodes"
PRESET = RELEASE = "etcd"          # members etcd-0..2, client Service "etcd"
MEMBERS = [f"{RELEASE}-{i}" for i in range(3)]
FIGURES: dict[str, float] = {}


def selector(release: str) -> str:
    return f"app.kubernetes.io/instance={release},app.kubernetes.io/component=member"


def uninstall(helm, release: str) -> None:
    mn.uninstall(helm, release, NAMESPACE)


def etcdctl(kube, pod: str, *args: str) -> str:
    return kube.exec(NAMESPACE, pod, "agent", ["sh", "-c", "etcdctl --endpoints=http://127.0.0.1:2379 " + " ".join(args)])


def voting(kube, pod: str) -> list[str]:
    members = json.loads(etcdctl(kube, pod, "member", "list", "-w", "json"))["members"]
    return sorted(m["name"] for m in members if not m.get("isLearner"))


def keys(kube, pod: str, prefix: str) -> set[int]:
    out = etcdctl(kube, pod, "get", prefix, "--prefix", "--keys-only", "--consistency=s")
    return {int(k[len(prefix):]) for k in out.split() if k.startswith(prefix)}


def writer(cluster, via: str, prefix: str) -> mn.AckWriter:
    """Puts through every member's client URL (etcdctl fails over between them) until
    /tmp/stop-writer exists in VIA (at most 10 minutes)."""
    eps = ",".join(f"http://{m}.{RELEASE}-headless.{NAMESPACE}.svc.cluster.local:2379" for m in MEMBERS)
    # the tools image has bash-static and etcdctl, no coreutils: bash's $EPOCHREALTIME and
    # common.sh's pause stand in for date and sleep, `: >` for touch (a fresh stop file per run)
    script = (f". /scripts/common.sh; stop=/tmp/stop-writer-{prefix.strip('/').replace('/', '-')}; "
              "end=$((EPOCHSECONDS + 600)); i=0; "
              "ms() { us=${EPOCHREALTIME/./}; printf '%s' \"${us%???}\"; }; "
              "while [ ! -f \"$stop\" ] && [ \"$EPOCHSECONDS\" -lt \"$end\" ]; do "
              f"if ETCDCTL_ENDPOINTS={eps} ETCDCTL_DIAL_TIMEOUT=1s ETCDCTL_COMMAND_TIMEOUT=3s etcdctl put {prefix}$i v >/dev/null 2>&1; "
              "then echo \"$i $(ms) OK\"; else echo \"$i $(ms) FAIL\"; pause 0.2; fi; "
              "i=$((i+1)); done")
    return mn.AckWriter(cluster.kubeconfig, NAMESPACE, via, "agent", script, seconds=600)


def stop_writer(kube, w: mn.AckWriter) -> None:
    stop = w.script.split("stop=", 1)[1].split(";", 1)[0]
    kube.exec(NAMESPACE, w.pod, "agent", ["sh", "-c", f": > {stop}"])
    w.join(60)
    assert not w.is_alive(), "the writer did not stop"
    assert w.error is None, w.error


def test_hard_anti_affinity_places_three_members_on_three_nodes(chart, helm, kube, values, workers):
    helm.install_or_upgrade(RELEASE, chart.path, NAMESPACE, {**values, "podAntiAffinityPreset": "hard"},
                            wait=True, timeout="10m")
    kube.wait("3 ready members", lambda: len(kube.ready_names(NAMESPACE, selector(RELEASE))) == 3)
    where = mn.placement(kube, NAMESPACE, selector(RELEASE))
    print(f"\nplacement: {where}")
    assert len(set(where.values())) == 3 and set(where.values()) <= set(workers)
    assert voting(kube, MEMBERS[0]) == MEMBERS


def test_drain_keeps_majority_pdb_blocks_second_drain_writes_acknowledged(cluster, kube):
    where = mn.placement(kube, NAMESPACE, selector(RELEASE))
    first, second, via = MEMBERS                       # drain etcd-0's node, then etcd-1's
    w = writer(cluster, via, "/drain/")
    w.start()
    time.sleep(3)
    t0 = mn.epoch()
    try:
        done = mn.drain(cluster.kubeconfig, where[first], 180)
        assert done.returncode == 0, done.stderr
        FIGURES["drain_s"] = mn.epoch() - t0
        # its volume lives on the cordoned node: the member is recreated there-bound, Pending
        kube.wait(f"{first} evicted", lambda: first not in kube.ready_names(NAMESPACE, selector(RELEASE)), timeout=60)
        refused = mn.drain(cluster.kubeconfig, where[second], 30)
        assert refused.returncode != 0, "a second drain went through: the majority was not protected"
        assert "disruption budget" in refused.stderr, refused.stderr
        assert second in kube.ready_names(NAMESPACE, selector(RELEASE))
    finally:
        mn.uncordon(cluster.kubeconfig, where[first], where[second])
    kube.wait("3 ready members after uncordon", lambda: len(kube.ready_names(NAMESPACE, selector(RELEASE))) == 3,
              timeout=300)
    kube.wait("3 voting members", lambda: voting(kube, via) == MEMBERS, timeout=120)
    time.sleep(3)
    t1 = mn.epoch()
    stop_writer(kube, w)
    gap = w.longest_gap(t0, t1)
    FIGURES["drain_longest_write_gap_s"] = gap
    print(f"\ndrain {where[first]}: {FIGURES['drain_s']:.1f}s; second drain refused by the PDB; "
          f"{len(w.acked)} writes acknowledged, {w.failed} failed, longest gap {gap:.1f}s")
    assert len(w.acked) > 50
    assert gap < 15, f"writes stalled for {gap:.1f}s during the drains"
    have = keys(kube, via, "/drain/")
    assert set(w.acked) <= have, f"acknowledged writes lost: {sorted(set(w.acked) - have)[:10]}"
    kube.wait(f"{first} has every acknowledged key", lambda: set(w.acked) <= keys(kube, first, "/drain/"), timeout=60)


def test_stopped_node_member_stays_bound_majority_writes_then_rejoins_with_data(cluster, kube):
    mn.on_kind(cluster)
    where = mn.placement(kube, NAMESPACE, selector(RELEASE))
    victim, via = MEMBERS[1], MEMBERS[2]
    node = where[victim]
    before = keys(kube, victim, "/drain/")
    w = writer(cluster, via, "/stop/")
    w.start()
    time.sleep(3)
    t0 = mn.epoch()
    docker = mn.node_container(node)
    docker("stop")
    try:
        kube.wait(f"{node} NotReady", lambda: not mn.node_ready(kube, node), timeout=120, interval=2)
        FIGURES["node_not_ready_s"] = mn.epoch() - t0
        # while the node is NotReady, the member is not recreated elsewhere: still bound there
        for _ in range(5):
            now = mn.placement(kube, NAMESPACE, selector(RELEASE))
            assert now[victim] == node, f"{victim} moved to {now[victim]} while {node} was NotReady"
            assert len(now) == 3
            time.sleep(2)
        assert voting(kube, via) == MEMBERS           # still a member, just unreachable
        assert "OK" in etcdctl(kube, via, "put", "/probe/while-node-down", "x")   # the majority takes writes
    finally:
        t_start = mn.epoch()
        docker("start")
    kube.wait(f"{node} Ready", lambda: mn.node_ready(kube, node), timeout=180, interval=2)
    kube.wait(f"{victim} ready again", lambda: victim in kube.ready_names(NAMESPACE, selector(RELEASE)), timeout=180)
    FIGURES["node_start_to_member_ready_s"] = mn.epoch() - t_start
    assert mn.placement(kube, NAMESPACE, selector(RELEASE))[victim] == node
    t1 = mn.epoch()
    stop_writer(kube, w)
    gap = w.longest_gap(t0, t1)
    print(f"\n{node} stopped: NotReady after {FIGURES['node_not_ready_s']:.0f}s; started: {victim} ready after "
          f"{FIGURES['node_start_to_member_ready_s']:.0f}s; {len(w.acked)} writes acknowledged, {w.failed} failed, "
          f"longest gap {gap:.1f}s")
    assert gap < 15, f"writes stalled for {gap:.1f}s while a node was down"
    assert before <= keys(kube, victim, "/drain/"), "the member lost data it had before its node stopped"
    kube.wait(f"{victim} caught up on every acknowledged write",
              lambda: set(w.acked) <= keys(kube, victim, "/stop/"), timeout=60)
    assert set(w.acked) <= keys(kube, via, "/stop/")
    assert voting(kube, via) == MEMBERS


def test_five_members_hard_anti_affinity_on_three_workers_two_pending(cluster, chart, helm, kube, values, workers):
    uninstall(helm, RELEASE)
    five = "etcd5"
    helm.install_or_upgrade(five, chart.path, NAMESPACE,
                            {**values, "replicaCount": 5, "podAntiAffinityPreset": "hard"}, wait=False)
    kube.wait("3 ready members", lambda: len(kube.ready_names(NAMESPACE, selector(five))) == 3, timeout=300)
    where = mn.placement(kube, NAMESPACE, selector(five))
    pending = sorted(p for p, n in where.items() if n is None)
    assert len(pending) == 2, where
    assert len({n for n in where.values() if n}) == 3
    for pod in pending:
        why = kube.wait(f"{pod}: FailedScheduling", lambda pod=pod: mn.pending_reasons(kube, NAMESPACE, pod), timeout=60)
        print(f"\n{pod}: {why[-1]}")
        assert re.search(r"didn't match pod anti-affinity rules", why[-1]), why
    status = chartgen_cli("status", five, "--kubeconfig", str(cluster.kubeconfig), "--namespace", NAMESPACE)
    print(status.stdout)
    assert status.returncode == 1                     # not all members ready
    assert "members healthy 3/5" in status.stdout
    for pod in pending:
        assert re.search(rf"^ +{pod} +NOT READY +role n/a +Pending, unschedulable", status.stdout, re.M), status.stdout


def test_status_names_why_a_member_cannot_be_scheduled(cluster):
    status = chartgen_cli("status", "etcd5", "--kubeconfig", str(cluster.kubeconfig), "--namespace", NAMESPACE)
    assert "anti-affinity" in status.stdout, status.stdout


def test_topology_spread_over_zones_renders_and_schedules(chart, helm, kube, values):
    uninstall(helm, "etcd5")
    zoned = "etcdz"
    spread = [{"maxSkew": 1, "topologyKey": mn.ZONE_LABEL, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": zoned,
                                                 "app.kubernetes.io/component": "member"}}}]
    helm.install_or_upgrade(zoned, chart.path, NAMESPACE,
                            {**values, "replicaCount": 5, "podAntiAffinityPreset": "",
                             "topologySpreadConstraints": spread}, wait=True, timeout="10m")
    sts = kube.apps.read_namespaced_stateful_set(zoned, NAMESPACE)
    rendered = kube.api_client.sanitize_for_serialization(sts.spec.template.spec.topology_spread_constraints)
    assert rendered == spread, rendered
    assert sts.spec.template.spec.affinity is None or sts.spec.template.spec.affinity.pod_anti_affinity is None
    zones = mn.node_zone(kube)
    where = mn.placement(kube, NAMESPACE, selector(zoned))
    per_zone: dict[str, int] = {}
    for node in where.values():
        per_zone[zones[node]] = per_zone.get(zones[node], 0) + 1
    print(f"\nmembers per zone: {per_zone}; placement: {where}")
    assert sorted(per_zone.values()) == [2, 3], per_zone     # zone-a (2 nodes) and zone-b (1 node), skew 1
    kube.wait("5 ready members", lambda: len(kube.ready_names(NAMESPACE, selector(zoned))) == 5, timeout=180)
    helm.uninstall(zoned, NAMESPACE, wait=True)
    print(f"figures: {json.dumps({k: round(v, 1) for k, v in FIGURES.items()})}")


