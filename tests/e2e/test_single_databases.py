"""The database presets' stateful-single type on a real Kubernetes cluster: one etcd member with
no learner agent, one Redis master with no sentinel, one PostgreSQL primary; each installed with `helm test`, a write
kept across a pod restart, a second instance refused, then switched to stateful-multi by value
with the data kept (replicated to the new pods), the switch back refused, then acknowledged
(one instance again, with the data). Runs in order in
one namespace; every database runs its test images (tests/images)."""

from __future__ import annotations

import time

import pytest

import chartgen
from chartgen.errors import HelmError

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("single-databases"), pytest.mark.timeout(900)]

NAMESPACE = "chartgen-e2e-single"
RELEASE = "kv"  # diagnostics on failure describe this release
FIGURES: dict[str, float] = {}


def selector(release: str) -> str:
    return f"app.kubernetes.io/instance={release},app.kubernetes.io/component=member"


def containers(kube, pod: str) -> list[str]:
    return [c.name for c in kube.core.read_namespaced_pod(pod, NAMESPACE).spec.containers]


def restart(kube, pod: str) -> None:
    uid = kube.core.read_namespaced_pod(pod, NAMESPACE).metadata.uid
    kube.core.delete_namespaced_pod(pod, NAMESPACE)
    kube.wait(f"{pod} back and ready", lambda: any(p.metadata.uid != uid and kube.ready(p) and p.metadata.name == pod
                                                    for p in kube.pods(NAMESPACE)), timeout=240)


def refused(helm, release, chart, values, needle) -> str:
    with pytest.raises(HelmError) as err:
        helm.install_or_upgrade(release, chart.path, NAMESPACE, values, wait=True, timeout="5m")
    text = err.value.__cause__.stderr.decode()
    assert needle in text, text
    return text


# -- etcd ---------------------------------------------------------------------------------------

def etcdctl(kube, pod: str, *args: str, container: str = "etcd") -> str:
    # the etcd image has no shell: etcdctl runs as the exec'd process itself
    return kube.exec(NAMESPACE, pod, container, ["etcdctl", "--endpoints=http://127.0.0.1:2379", *args])


def test_etcd_stateful_single(helm, kube, cluster, tmp_path_factory):
    chart = chartgen.generate("etcd", "kv", type="stateful-single", output=tmp_path_factory.mktemp("etcd") / "kv")
    values = {"persistence": {"size": "64Mi"}, **cluster.images({"image": "etcd", "toolsImage": "etcd-tools", "kubectlImage": "kubectl"})}
    t0 = time.monotonic()
    helm.install_or_upgrade("kv", chart.path, NAMESPACE, values, wait=True, timeout="5m")
    FIGURES["etcd_single_install_s"] = time.monotonic() - t0
    assert kube.ready_names(NAMESPACE, selector("kv")) == ["kv-0"] and containers(kube, "kv-0") == ["etcd"]
    assert "OK: 1 healthy voting members, 1 leader" in helm.test("kv", NAMESPACE)
    etcdctl(kube, "kv-0", "put", "/e2e/single", "kept")
    restart(kube, "kv-0")
    assert etcdctl(kube, "kv-0", "get", "/e2e/single", "--print-value-only").strip() == "kept"
    refused(helm, "kv", chart, {**values, "replicaCount": 3}, "type stateful-single runs exactly one instance")

    # to stateful-multi by value, as the README says: the type at one member first (kv-0 restarts
    # with its agent, keeping its data), then the scale-out (two learners join, are promoted)
    # (helm's own --wait is off for the membership changes: a joining member's etcd may exit once
    # while it catches up, and a removed member's exits until the StatefulSet deletes its pod;
    # Helm 4 reports such a pod as failed although the release converges; the test waits for
    # the members itself)
    t0 = time.monotonic()
    helm.install_or_upgrade("kv", chart.path, NAMESPACE, {**values, "type": "stateful-multi", "replicaCount": 1},
                            wait=True, timeout="8m")
    assert containers(kube, "kv-0") == ["etcd", "agent"]
    assert etcdctl(kube, "kv-0", "get", "/e2e/single", "--print-value-only").strip() == "kept"
    helm.install_or_upgrade("kv", chart.path, NAMESPACE, {**values, "type": "stateful-multi", "replicaCount": 3},
                            wait=False)
    kube.wait("3 ready members", lambda: kube.ready_names(NAMESPACE, selector("kv")) == ["kv-0", "kv-1", "kv-2"],
              timeout=300)
    FIGURES["etcd_single_to_multi_s"] = time.monotonic() - t0
    assert "OK: 3 healthy voting members, 1 leader" in helm.test("kv", NAMESPACE)
    for pod in ("kv-0", "kv-1", "kv-2"):
        assert etcdctl(kube, pod, "get", "/e2e/single", "--print-value-only", container="agent").strip() == "kept"
    # and back is refused: members 1 and 2 would be left behind
    back = {**values, "type": "stateful-single", "replicaCount": 1}
    refused(helm, "kv", chart, back,
            "type switch stateful-multi -> stateful-single would leave PVC(s) data-kv-1, data-kv-2 unused")
    # acknowledged: the scale-down hook removes members 1 and 2 first, so kv-0 keeps the data
    # and a quorum of one
    helm.install_or_upgrade("kv", chart.path, NAMESPACE, {**back, "typeSwitch": {"acknowledgeDataLoss": True}},
                            wait=False)
    kube.wait("kv-0 alone, without its agent, ready",
              lambda: [p.metadata.name for p in kube.pods(NAMESPACE, selector("kv"))] == ["kv-0"]
              and containers(kube, "kv-0") == ["etcd"] and kube.ready_names(NAMESPACE, selector("kv")) == ["kv-0"],
              timeout=240)
    assert containers(kube, "kv-0") == ["etcd"]
    assert etcdctl(kube, "kv-0", "get", "/e2e/single", "--print-value-only").strip() == "kept"
    assert "OK: 1 healthy voting members, 1 leader" in helm.test("kv", NAMESPACE)
    print(f"\netcd stateful-single: install {FIGURES['etcd_single_install_s']:.1f}s; "
          f"to stateful-multi (3 members, data kept) {FIGURES['etcd_single_to_multi_s']:.1f}s")


# -- redis --------------------------------------------------------------------------------------

def redis(kube, pod: str, *args: str) -> str:
    cmd = 'REDISCLI_AUTH="$REDIS_PASSWORD" timeout 5 redis-cli --no-auth-warning -h 127.0.0.1 ' + " ".join(args)
    return kube.exec(NAMESPACE, pod, "redis", ["sh", "-c", cmd]).strip()


def test_redis_stateful_single(helm, kube, cluster, tmp_path_factory):
    chart = chartgen.generate("redis", "cache", type="stateful-single", output=tmp_path_factory.mktemp("redis") / "cache")
    values = {"persistence": {"size": "64Mi"}, **cluster.images({"image": "redis", "kubectlImage": "kubectl"})}
    t0 = time.monotonic()
    helm.install_or_upgrade("cache", chart.path, NAMESPACE, values, wait=True, timeout="5m")
    FIGURES["redis_single_install_s"] = time.monotonic() - t0
    assert kube.ready_names(NAMESPACE, selector("cache")) == ["cache-node-0"]
    assert containers(kube, "cache-node-0") == ["redis"]  # no sentinel, no role agent, no proxy
    assert "OK: 1 master (cache-node-0), no sentinel (a single instance)" in helm.test("cache", NAMESPACE)
    assert redis(kube, "cache-node-0", "ROLE").splitlines()[0] == "master"
    assert redis(kube, "cache-node-0", "SET", "e2e:single", "kept") == "OK"
    restart(kube, "cache-node-0")
    assert redis(kube, "cache-node-0", "GET", "e2e:single") == "kept"  # appendonly on its volume
    refused(helm, "cache", chart, {**values, "replicaCount": 3}, "type stateful-single runs exactly one instance")

    # to stateful-multi by value: pod 0 keeps its data and becomes the first master, the new
    # pods replicate it; sentinels and role labels come with the type
    t0 = time.monotonic()
    helm.install_or_upgrade("cache", chart.path, NAMESPACE,
                            {**values, "type": "stateful-multi", "replicaCount": 3, "roleLabels": {"enabled": True},
                             "preStopHandover": {"enabled": True}}, wait=True, timeout="8m")
    # pod 0 restarted while pods 1 and 2 came up: the sentinels settle on one master
    kube.wait("one master, as every pod says (ROLE)",
              lambda: sorted(redis(kube, p, "ROLE").splitlines()[0] for p in ("cache-node-0", "cache-node-1", "cache-node-2"))
              == ["master", "slave", "slave"], timeout=180)
    FIGURES["redis_single_to_multi_s"] = time.monotonic() - t0
    out = helm.test("cache", NAMESPACE)
    assert "2 linked replica(s), 3 sentinel(s) agree" in out
    for pod in ("cache-node-0", "cache-node-1", "cache-node-2"):
        assert redis(kube, pod, "GET", "e2e:single") == "kept"
    back = {**values, "type": "stateful-single", "replicaCount": 1}
    refused(helm, "cache", chart, back, "would leave PVC(s) data-cache-node-1, data-cache-node-2 unused")
    # acknowledged: pod 0 comes back alone, the master, with the replicated data
    helm.install_or_upgrade("cache", chart.path, NAMESPACE, {**back, "typeSwitch": {"acknowledgeDataLoss": True}},
                            wait=True, timeout="8m")
    kube.wait("cache-node-0 alone", lambda: [p.metadata.name for p in kube.pods(NAMESPACE, selector("cache"))]
              == ["cache-node-0"], timeout=240)
    assert containers(kube, "cache-node-0") == ["redis"]
    assert redis(kube, "cache-node-0", "GET", "e2e:single") == "kept"
    assert "no sentinel (a single instance)" in helm.test("cache", NAMESPACE)
    print(f"\nredis stateful-single: install {FIGURES['redis_single_install_s']:.1f}s; "
          f"to stateful-multi (3 pods, data replicated) {FIGURES['redis_single_to_multi_s']:.1f}s")


# -- postgresql -----------------------------------------------------------------------------------

def psql(kube, pod: str, query: str) -> str:
    """QUERY as postgres over the pod's socket (peer authentication: no password)."""
    cmd = ("timeout 10 /usr/lib/postgresql/17/bin/psql -X -A -t -q -h /var/run/postgresql -U postgres -d postgres "
           f"-c \"{query}\"")
    return kube.exec(NAMESPACE, pod, "postgresql", ["sh", "-c", cmd]).strip()


def test_postgresql_stateful_single(helm, kube, cluster, tmp_path_factory):
    chart = chartgen.generate("postgresql", "pg", type="stateful-single", output=tmp_path_factory.mktemp("pg") / "pg")
    values = {"persistence": {"size": "256Mi"}, **cluster.images({"image": "postgres", "kubectlImage": "kubectl"})}
    t0 = time.monotonic()
    helm.install_or_upgrade("pg", chart.path, NAMESPACE, values, wait=True, timeout="5m")
    FIGURES["postgresql_single_install_s"] = time.monotonic() - t0
    assert kube.ready_names(NAMESPACE, selector("pg")) == ["pg-0"]
    assert "OK: 1 primary (pg-0) behind pg-rw" in helm.test("pg", NAMESPACE)
    assert psql(kube, "pg-0", "SELECT pg_is_in_recovery()") == "f"
    psql(kube, "pg-0", "CREATE TABLE e2e_single (v text); INSERT INTO e2e_single VALUES ('kept')")
    restart(kube, "pg-0")
    kube.wait("pg-0 the primary again", lambda: psql(kube, "pg-0", "SELECT pg_is_in_recovery()") == "f", timeout=120)
    assert psql(kube, "pg-0", "SELECT v FROM e2e_single") == "kept"
    refused(helm, "pg", chart, {**values, "replicaCount": 3}, "type stateful-single runs exactly one instance")

    # to stateful-multi by value: pod 0 keeps its data and stays the primary (it holds the
    # Lease), the new pods are seeded from it and stream
    t0 = time.monotonic()
    helm.install_or_upgrade("pg", chart.path, NAMESPACE, {**values, "type": "stateful-multi", "replicaCount": 3,
                                                          "switchover": {"enabled": True}}, wait=True, timeout="8m")
    FIGURES["postgresql_single_to_multi_s"] = time.monotonic() - t0
    out = kube.wait("helm test of 3 members", lambda: (o := helm.test("pg", NAMESPACE)) and "on 3 member(s)" in o and o,
                    timeout=180, interval=5)
    assert "every standby streams from it" in out
    for pod in ("pg-0", "pg-1", "pg-2"):
        assert psql(kube, pod, "SELECT v FROM e2e_single") == "kept"
    back = {**values, "type": "stateful-single", "replicaCount": 1}
    refused(helm, "pg", chart, back, "would leave PVC(s) data-pg-1, data-pg-2 unused")
    helm.install_or_upgrade("pg", chart.path, NAMESPACE, {**back, "typeSwitch": {"acknowledgeDataLoss": True}},
                            wait=True, timeout="8m")
    kube.wait("pg-0 alone", lambda: [p.metadata.name for p in kube.pods(NAMESPACE, selector("pg"))] == ["pg-0"],
              timeout=240)
    kube.wait("pg-0 the primary", lambda: psql(kube, "pg-0", "SELECT pg_is_in_recovery()") == "f", timeout=120)
    assert psql(kube, "pg-0", "SELECT v FROM e2e_single") == "kept"
    assert "on 1 member(s)" in helm.test("pg", NAMESPACE)
    print(f"\npostgresql stateful-single: install {FIGURES['postgresql_single_install_s']:.1f}s; "
          f"to stateful-multi (3 pods, seeded) {FIGURES['postgresql_single_to_multi_s']:.1f}s")
