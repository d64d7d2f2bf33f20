"""Member-level runtime test of the etcd chart with real etcd servers (no Kubernetes).

One network namespace per pod, the pods' FQDNs resolving inside each; every pod runs the
rendered bootstrap init container, then etcd and the agent, with exactly the command lines
and environment the rendered StatefulSet gives it. The tests run in order on one cluster.
"""

import os
import threading
import time

import pytest

import chartgen
from chartgen.helm import Helm
from tests.runtime.etcd_cluster import EtcdPods
from tests.infra.netns import PodNetwork

pytestmark = [pytest.mark.runtime, pytest.mark.timeout(600)]

if os.geteuid() != 0:  # pragma: no cover - CI and developers' machines run as root
    pytest.skip("network namespaces need root", allow_module_level=True)

NS = "default"
FQDN = "etcd-{i}.etcd-headless.default.svc.cluster.local"


@pytest.fixture(scope="module")
def chart(tmp_path_factory):
    return chartgen.generate("etcd", "etcd", output=tmp_path_factory.mktemp("chart") / "etcd")


@pytest.fixture(scope="module")
def cluster(chart, tmp_path_factory):
    objects = Helm().template(chart.path, "etcd", NS)
    hosts = {f"etcd-{i}": [FQDN.format(i=i)] for i in range(5)}
    with PodNetwork(hosts) as net:
        yield EtcdPods(objects, tmp_path_factory.mktemp("pods"), net)


def healthy(pods, ordinals):
    eps = ",".join(pods.client_url(i) for i in ordinals)
    proc = pods.ctl(ordinals[0], "endpoint", "health", endpoints=eps, check=False)
    return proc.returncode == 0 and (proc.stdout + proc.stderr).count("is healthy") == len(ordinals)


def voters(pods, via):
    return sorted(m["name"] for m in pods.members(via) if not m.get("isLearner") and m.get("name"))


def test_members_form_one_cluster_with_a_leader(cluster):
    for i in range(3):
        init = cluster.start(i)
        assert init.returncode == 0, init.stderr
        assert f"name: etcd-{i}" in cluster.config(i)
        assert f"advertise-client-urls: http://{FQDN.format(i=i)}:2379" in cluster.config(i)
    # etcd-0 found nobody and bootstrapped; a member started after a quorum formed finds
    # itself in the member list (added by the bootstrap, never started) and starts "existing"
    assert "initial-cluster-state: new" in cluster.config(0)
    assert "initial-cluster-state: existing" in cluster.config(2)
    cluster.wait("3 healthy members", lambda: healthy(cluster, [0, 1, 2]))
    assert cluster.wait("one leader", lambda: cluster.leader([0, 1, 2]) is not None)
    assert voters(cluster, 0) == ["etcd-0", "etcd-1", "etcd-2"]
    ids = {cluster.status(i)["header"]["cluster_id"] for i in range(3)}
    assert len(ids) == 1  # one cluster, not three


def _probe(cluster, i):
    return cluster.run(i, "agent", cluster.pod(i).handler("agent", "readinessProbe"), timeout=30)


def test_readiness_means_a_voter_serving_clients_by_its_fqdn(cluster):
    for i in range(3):
        proc = _probe(cluster, i)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    cluster.kill(1)  # its etcd is gone: its pod must not be ready
    proc = _probe(cluster, 1)
    assert proc.returncode != 0 and "member list through" in proc.stdout
    assert cluster.start(1).returncode == 0
    cluster.wait("etcd-1 ready again", lambda: _probe(cluster, 1).returncode == 0, timeout=60)


def test_a_write_is_read_from_every_member(cluster):
    cluster.ctl(0, "put", "/demo/greeting", "hello")
    for i in range(3):
        got = cluster.wait(f"key on etcd-{i}", lambda i=i: cluster.ctl(
            i, "get", "/demo/greeting", "--print-value-only", "--consistency=s").stdout.strip())
        assert got == "hello"


def count_keys(cluster, via, serializable=False):
    args = ["get", "/acked/", "--prefix", "--keys-only", "-w", "json"]
    if serializable:
        args.append("--consistency=s")
    import json

    return json.loads(cluster.ctl(via, *args).stdout).get("count", 0)


def test_leader_loss_elects_a_new_leader_and_keeps_acknowledged_writes(cluster):
    acked = 0
    for n in range(150):
        if cluster.ctl(0, "put", f"/acked/{n:04d}", "v", check=False).returncode == 0:
            acked += 1
    assert acked == 150
    leader = cluster.leader([0, 1, 2])
    survivors = [i for i in range(3) if i != leader]
    t0 = time.monotonic()
    cluster.kill(leader)
    new = cluster.wait("a new leader", lambda: (l := cluster.leader(survivors)) is not None and l, timeout=30,
                       interval=0.1)
    failover = time.monotonic() - t0
    print(f"\nleader failover: etcd-{leader} killed -> etcd-{new} leads after {failover:.2f}s")
    assert new in survivors and failover < 15
    assert count_keys(cluster, survivors[0]) == 150  # linearizable read: nothing acknowledged was lost
    # writes go on with one member down (2 of 3 is a majority)
    for n in range(150, 200):
        cluster.ctl(survivors[0], "put", f"/acked/{n:04d}", "v")
    cluster.leader_killed = leader


def test_a_killed_member_restarts_with_its_data_and_rejoins(cluster):
    leader = cluster.leader_killed
    init = cluster.start(leader)
    assert init.returncode == 0, init.stderr
    assert "initial-cluster-state: existing" in cluster.config(leader)
    cluster.wait("3 healthy members again", lambda: healthy(cluster, [0, 1, 2]))
    # it caught up, including the writes made while it was down, from its own replica
    cluster.wait("caught up", lambda: count_keys(cluster, leader, serializable=True) == 200)
    assert voters(cluster, leader) == ["etcd-0", "etcd-1", "etcd-2"]  # never removed


def test_all_members_restarted_at_once_come_back_with_their_data(cluster):
    for i in range(3):
        cluster.kill(i)
    threads = [threading.Thread(target=cluster.start, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cluster.wait("3 healthy members after a full restart", lambda: healthy(cluster, [0, 1, 2]), timeout=90)
    assert count_keys(cluster, 0) == 200
    assert voters(cluster, 1) == ["etcd-0", "etcd-1", "etcd-2"]


def test_scale_up_joins_new_members_as_learners_then_promotes_them(cluster, chart):
    cluster.render(Helm().template(chart.path, "etcd", NS, {"replicaCount": 5}, is_upgrade=True))
    results = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, cluster.start(i))) for i in (3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results.values()), {i: r.stderr for i, r in results.items()}
    for i in (3, 4):
        assert "initial-cluster-state: existing" in cluster.config(i)
    log = (cluster.workdir / "etcd-3.log").read_text() + (cluster.workdir / "etcd-4.log").read_text()
    assert "waiting to join" in log  # one learner at a time: the second waited for the slot
    cluster.wait("5 voting members", lambda: len(voters(cluster, 0)) == 5, timeout=120)
    cluster.wait("5 healthy members", lambda: healthy(cluster, [0, 1, 2, 3, 4]))
    cluster.wait("new member has the data", lambda: count_keys(cluster, 4, serializable=True) == 200)


def _run_job(cluster, objects, name):
    job = next(o for o in objects if o["kind"] == "Job" and o["metadata"]["name"] == name)
    return cluster.run_workload(job, via=0, timeout=300)


def test_scale_down_hook_removes_departing_members_before_their_pods_go(cluster, chart):
    objects = Helm().template(chart.path, "etcd", NS, {"replicaCount": 3}, is_upgrade=True)
    cluster.render(objects)
    proc = _run_job(cluster, objects, "etcd-scale-down")
    assert proc.returncode == 0, proc.stderr
    assert "2 member(s) removed" in proc.stderr
    # the StatefulSet then deletes pods 3 and 4
    cluster.kill(3)
    cluster.kill(4)
    assert voters(cluster, 0) == ["etcd-0", "etcd-1", "etcd-2"]
    assert len(cluster.members(0)) == 3  # no stale members
    cluster.wait("3 healthy members", lambda: healthy(cluster, [0, 1, 2]))
    # running it again removes nothing
    again = _run_job(cluster, objects, "etcd-scale-down")
    assert again.returncode == 0 and "0 member(s) removed" in again.stderr


def test_a_removed_member_with_stale_data_refuses_to_start(cluster):
    init = cluster.bootstrap(3)
    assert init.returncode == 1
    assert "removed from the cluster" in init.stderr and "delete PVC data-etcd-3" in init.stderr


def test_a_member_that_lost_its_data_rejoins_under_a_new_identity(cluster):
    old_id = next(m["ID"] for m in cluster.members(0) if m["name"] == "etcd-2")
    cluster.kill(2)
    init = cluster.start(2, fresh_data=True)
    assert init.returncode == 0, init.stderr
    assert "lost its data" in init.stderr
    cluster.wait("3 voting members", lambda: voters(cluster, 0) == ["etcd-0", "etcd-1", "etcd-2"], timeout=90)
    new_id = next(m["ID"] for m in cluster.members(0) if m["name"] == "etcd-2")
    assert new_id != old_id and len(cluster.members(0)) == 3
    cluster.wait("data replicated to the new replica", lambda: count_keys(cluster, 2, serializable=True) == 200)


def test_helm_test_script_passes_on_the_healthy_cluster(cluster, chart):
    objects = Helm().template(chart.path, "etcd", NS, {"replicaCount": 3}, is_upgrade=True)
    pod_obj = next(o for o in objects if o["kind"] == "Pod")
    cluster.render(objects)
    proc = cluster.run_workload(pod_obj, via=1, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "OK: 3 healthy voting members, 1 leader" in proc.stderr
    # and it fails when a member is down
    cluster.kill(2)
    proc = cluster.run_workload(pod_obj, via=1, timeout=120)
    assert proc.returncode != 0


def test_auth_and_tls_single_member(chart, tmp_path):
    values = {"replicaCount": 1, "auth": {"enabled": True},
              "tls": {"peer": True, "client": True, "clientCertAuth": True}}
    objects = Helm().template(chart.path, "etcd", NS, values)
    with PodNetwork({"etcd-0": [FQDN.format(i=0)]}) as net:
        pods = EtcdPods(objects, tmp_path, net, record=("etcdctl",))
        assert pods.start(0).returncode == 0
        assert "client-cert-auth: true" in pods.config(0)
        pods.wait("auth enabled", lambda: "Authentication Status: true" in pods.ctl(0, "auth", "status",
                                                                                       check=False).stdout)
        pods.ctl(0, "put", "/secure", "yes")
        # without the password: refused
        env = pods.env(0, "agent")
        env.pop("ROOT_PASSWORD")
        anon = pods.run(0, "agent", ["etcdctl", f"--endpoints={pods.client_url(0)}", "get", "/secure"], env=env,
                        timeout=30)
        assert anon.returncode != 0
        assert "permission denied" in anon.stderr or "user name is empty" in anon.stderr
        # the scripts created the root user and enabled auth, and the password was never on
        # a command line (where `ps` shows it): every etcdctl call was recorded
        password = pods.env(0, "agent")["ROOT_PASSWORD"]
        calls = pods.commands_log.read_text()
        assert "user add root" in calls and "auth enable" in calls
        assert password not in calls
