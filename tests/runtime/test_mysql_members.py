"""Member-level runtime test of the mysql chart (flavor mariadb) with real mariadbd servers and
a real Kubernetes API server for the Lease.

Debian trixie's mariadb-server / mariadb-backup / socat (MariaDB 11.8) stand in for the official
MariaDB image's; one network namespace per pod, the pods' FQDNs resolving inside each; every
pod runs its rendered containers (start.sh -> mariadbd, the agent, the donor, the kubectl proxy
sidecar) in its image's root with exactly the command lines, environment and volumes the
rendered StatefulSet gives it, as uid 999. The kubectl sidecar talks to a bare API server
(tests/infra/apiserver.py) with a token of the release's ServiceAccount, so the Lease, the
compare-and-swap renewals, the role labels and the Role's limits are real. The tests run in order on one cluster (semi-sync on,
failover on, the chart's default timings: Lease 8 s, renewal every 2 s).
"""

import os
import signal
import time

import pytest

import chartgen
from chartgen.helm import Helm
from tests.infra.apiserver import NAME as API_HOST
from tests.infra.apiserver import ApiServer
from tests.infra.netns import PodNetwork
from tests.runtime.mysql_cluster import MemberApi, MySQLPods, Writer

pytestmark = [pytest.mark.runtime, pytest.mark.timeout(900)]

if os.geteuid() != 0:  # pragma: no cover - CI and developers' machines run as root
    pytest.skip("network namespaces need root", allow_module_level=True)

STS = "mysql"
ROWS = 300


@pytest.fixture(scope="module")
def chart(tmp_path_factory):
    return chartgen.generate("mysql", "mysql", flavor="mariadb", output=tmp_path_factory.mktemp("chart") / "mysql")


@pytest.fixture(scope="module")
def api():
    with ApiServer() as server:
        yield MemberApi(server, "chartgen-rt-mysql")


def _render(chart, api, n):
    return Helm().template(chart.path, "mysql", api.name, {"replicaCount": n})


def _fqdn(api, i):
    return f"{STS}-{i}.{STS}-headless.{api.name}.svc.cluster.local"


@pytest.fixture(scope="module")
def cluster(chart, api, tmp_path_factory):
    objects = _render(chart, api, 3)
    hosts = {f"{STS}-{i}": [_fqdn(api, i)] for i in range(5)}  # room for the scale-up
    with PodNetwork(hosts, host_names=[API_HOST]) as net:
        pods = MySQLPods(objects, tmp_path_factory.mktemp("pods"), net, api,
                         record=("mariadb", "mariadb-admin", "mariadb-backup", "socat"))
        yield pods
        print(pods.logs()[-20000:])


def _log(cluster, i):
    return cluster.log(i).read_text()


def _watch_writables(cluster, ordinals, seconds):
    """Poll every pod for SECONDS: the largest number of members writable at the same time."""
    most, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        most = max(most, len(cluster.writables(ordinals)))
        time.sleep(0.2)
    return most


def _acked(cluster, primary, first, n):
    """N rows written one by one through PRIMARY (each commit waits for a replica: semi-sync)."""
    for i in range(first, first + n):
        assert cluster.out(primary, f"INSERT INTO t.acked (id) VALUES ({i})") is not None, f"row {i}"


def _purge_binlogs(cluster, primary):
    """The primary keeps only a new, empty binary log: nothing written so far can be replayed."""
    cluster.out(primary, "FLUSH BINARY LOGS")
    logs = cluster.out(primary, "SHOW BINARY LOGS").split()[0::2]
    # MariaDB purges a log only once its crash-recovery checkpoint moved on (a moment later)
    cluster.wait("older binary logs purged", lambda: cluster.out(primary, f"PURGE BINARY LOGS TO '{logs[-1]}'")
                 is not None and cluster.out(primary, "SHOW BINARY LOGS").split()[0::2] == [logs[-1]], timeout=30)
    return logs[-1]


def _wait_new_primary(cluster, old, ordinals, timeout=40):
    t0 = time.monotonic()
    new = cluster.wait("a writable new primary holding the Lease", lambda: next(
        (i for i in ordinals if i != old and cluster.writable(i) and cluster.holder() == cluster.name(i)), None),
        timeout=timeout, interval=0.1)
    return time.monotonic() - t0, new


# -- formation ----------------------------------------------------------------------------------

def test_pods_form_one_primary_holding_the_lease_and_seeded_replicas(cluster):
    t0 = time.monotonic()
    for i in range(3):
        cluster.start(i)
    primary = cluster.wait("one writable primary holding the Lease, 2 replicating replicas",
                           lambda: cluster.healthy(range(3)), timeout=120)
    print(f"\nstart to healthy: {time.monotonic() - t0:.1f}s")
    assert primary == 0  # only ordinal 0 creates a new cluster
    assert "initializing a new cluster" in _log(cluster, 0)
    for i in (1, 2):
        assert "seeding from mysql-0" in _log(cluster, i) or "seeding from mysql-" in _log(cluster, i)
        assert cluster.out(i, "SELECT @@read_only") == "1"
    for i in range(3):  # identity from the ordinal, the FQDN as report_host
        assert cluster.out(i, "SELECT @@server_id, @@report_host").split() == [str(100 + i), cluster.fqdn(i)]
    # the agents labelled their pods through the kubectl sidecar with the ServiceAccount's token
    assert cluster.wait("role labels", lambda: cluster.api.labels([f"{STS}-{i}" for i in range(3)]) ==
                        {"mysql-0": "primary", "mysql-1": "replica", "mysql-2": "replica"})
    lease = cluster.api.lease(cluster.lease_name)
    assert lease["spec"]["holderIdentity"] == "mysql-0" and lease["spec"]["leaseDurationSeconds"] == 8
    assert all(cluster.wait(f"mysql-{i} ready", lambda i=i: cluster.ready(i)) for i in range(3))


def test_root_cannot_write_on_a_replica_and_no_secret_is_on_a_command_line(cluster):
    assert cluster.out(0, "CREATE DATABASE t; CREATE TABLE t.acked (id INT PRIMARY KEY)") is not None
    # read_only binds root@'%' (no READ_ONLY ADMIN) on the replicas
    proc = cluster.sql(1, "INSERT INTO t.acked (id) VALUES (-1)")
    assert proc.returncode != 0 and "read-only" in proc.stdout + proc.stderr
    log = cluster.commands_log.read_text()
    assert "mariadb " in log and "socat " in log
    for secret in (cluster.root_password, cluster.env(0, "mysql")["REPLICATION_PASSWORD"]):
        assert secret not in log


def test_helm_test_script_passes(cluster):
    test = next(o for o in cluster.objects if o["kind"] == "Pod")
    env = test["spec"]["containers"][0]["env"]
    for e in env:  # no Service here: the primary's own FQDN stands for the primary Service
        if e["name"] == "PRIMARY_SERVICE":
            e["value"] = cluster.fqdn(cluster.healthy(range(3)))
    proc = cluster.run_workload(test, 1, timeout=180)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "OK: 1 writable member (mysql-0)" in proc.stderr


# -- seeding ------------------------------------------------------------------------------------

def test_a_replica_seeded_after_data_exists_and_binlogs_were_purged(cluster):
    primary = cluster.healthy(range(3))
    _acked(cluster, primary, 0, ROWS)
    # the primary keeps no binary log of those rows: replaying from the start is impossible
    first = _purge_binlogs(cluster, primary)
    victim = 2
    cluster.kill(victim)
    cluster.start(victim, fresh_data=True)  # an empty volume
    cluster.wait("healthy with the emptied member seeded", lambda: cluster.healthy(range(3)) == primary, timeout=120)
    assert "seeding from mysql-" in _log(cluster, victim)
    assert cluster.count(victim) == ROWS
    print(f"\nprimary's first binary log after the purge: {first}")


def test_a_replica_whose_missing_transactions_were_purged_is_cloned_again(cluster):
    primary = cluster.healthy(range(3))
    victim = next(i for i in (2, 1) if i != primary)
    cluster.kill(victim)
    _acked(cluster, primary, ROWS, 50)
    _purge_binlogs(cluster, primary)
    cluster.start(victim)
    cluster.wait("healthy with the member cloned again", lambda: cluster.healthy(range(3)) == primary, timeout=120)
    assert "re-cloning this member" in _log(cluster, victim)
    assert cluster.count(victim) == ROWS + 50


# -- failover -----------------------------------------------------------------------------------

def test_primary_killed_a_replica_takes_the_lease_and_no_acknowledged_write_is_lost(cluster):
    old = cluster.healthy(range(3))
    via = next(i for i in range(3) if i != old)
    writer = Writer(cluster, via, 10_000, seconds=40)
    writer.start()
    time.sleep(3)
    t0 = time.monotonic()
    cluster.kill(old)  # SIGKILL: gone without a word, the Lease is not renewed
    seconds, new = _wait_new_primary(cluster, old, range(3))
    print(f"\nfailover: mysql-{old} killed -> mysql-{new} writable and holding the Lease after {seconds:.1f}s")
    before = set(writer.acked)
    time.sleep(4)  # the writer goes on through the new primary
    writer.stop.set()
    writer.join()
    have = cluster.ids(new)
    assert len(before) >= 3 and writer.acked - before, "writes before and after the failover"
    lost = writer.acked - have
    assert not lost, f"{len(lost)} acknowledged writes lost: {sorted(lost)[:10]}"
    assert set(range(ROWS + 50)) <= have
    labels = cluster.api.labels([f"{STS}-{i}" for i in range(3)])
    assert labels[f"{STS}-{new}"] == "primary" and labels[f"{STS}-{old}"] != "primary"
    cluster.old_primary = old
    print(f"writer: {len(writer.acked)} acknowledged, {writer.failed} refused; failover took {time.monotonic() - t0:.1f}s")


def test_the_old_primary_rejoins_as_a_replica_never_writable(cluster):
    old = cluster.old_primary
    cluster.start(old)
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # from its very first answer on
        ro = cluster.out(old, "SELECT @@read_only", timeout=3)
        if ro is not None:
            seen.append(ro)
            if cluster.replica(old).get("Slave_SQL_Running") == "Yes":
                break
        time.sleep(0.1)
    assert seen and set(seen) == {"1"}, seen
    new = cluster.wait("healthy with the old primary as a replica", lambda: cluster.healthy(range(3)), timeout=120)
    assert new != old
    assert cluster.wait("same data everywhere", lambda: cluster.ids(old) == cluster.ids(new), timeout=60)


def _freeze(cluster, ordinal, frozen):
    """SIGSTOP / SIGCONT every process of the pod (a hung node: nothing answers, nothing runs)."""
    for pid in cluster.net.pids(cluster.name(ordinal)):
        try:
            os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_a_frozen_primary_is_replaced_and_once_thawed_cannot_take_writes(cluster):
    old = cluster.healthy(range(3))
    _freeze(cluster, old, True)
    try:
        seconds, new = _wait_new_primary(cluster, old, range(3), timeout=60)
        print(f"\nmysql-{old} frozen -> mysql-{new} writable and holding the Lease after {seconds:.1f}s")
        assert cluster.out(new, "INSERT INTO t.acked (id) VALUES (20000)") is not None
        # a client of the old primary: its write waits in the frozen server's backlog
        import subprocess
        late = cluster.popen(new, "mysql", cluster.client(cluster.fqdn(old), "-N", "-B", "-e",
                                                          "INSERT INTO t.acked (id) VALUES (20001)"),
                             env=cluster.client_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(1)
    finally:
        _freeze(cluster, old, False)
    out, _ = late.communicate(timeout=60)
    print(f"the late client of the thawed old primary got: {out.strip()!r} (rc {late.returncode})")
    assert late.returncode != 0, "the thawed old primary acknowledged a write"
    # its server wakes writable (read_only cannot change while frozen) until its agent, thawed
    # with it, fences it: no write can be acknowledged there meanwhile (semi-sync waits for a
    # replica, and every replica follows the new primary), and the fence kills the waiting commit
    t0 = time.monotonic()
    cluster.wait("the thawed old primary fenced (read-only)", lambda: old not in cluster.writables(range(3)),
                 timeout=10, interval=0.1)
    print(f"the thawed old primary was read-only {time.monotonic() - t0:.2f}s after its client's write was refused")
    assert _watch_writables(cluster, range(3), 5) == 1
    cluster.wait("healthy, the old primary a replica again", lambda: cluster.healthy(range(3)) == new, timeout=120)
    assert 20001 not in cluster.ids(new)
    assert cluster.wait("same data everywhere", lambda: cluster.ids(old) == cluster.ids(new), timeout=60)
    print("old primary: " + ("re-cloned (it held the unacknowledged write)" if "re-cloning this member"
                             in _log(cluster, old) else "rejoined without a clone"))


def test_a_primary_whose_server_alone_hangs_is_fenced_before_it_follows(cluster):
    """The primary's server hangs while its agent runs: the agent finds it gone, the Lease is not
    renewed and another member takes it. Thawed, the server is as it was: writable, semi-sync
    source on. Its agent must fence it before pointing it at the new primary, or it stays
    writable and its applier waits for semi-sync acknowledgements for ever (found by the e2e
    suite's pod-frozen round: a replica 1,100 s behind, "Waiting for semi-sync ACK from slave")."""
    old = cluster.healthy(range(3))
    server = next(cluster.pid(old, name) for name in ("mariadbd", "mysqld")
                  if _has_process(cluster, old, name))
    os.kill(server, signal.SIGSTOP)
    try:
        seconds, new = _wait_new_primary(cluster, old, range(3), timeout=60)
        print(f"\nmysql-{old}'s server hung -> mysql-{new} writable and holding the Lease after {seconds:.1f}s")
        # acknowledged once the other replica follows the new primary (semi-sync)
        cluster.wait("a write acknowledged by the new primary", lambda: cluster.out(
            new, "INSERT IGNORE INTO t.acked (id) VALUES (30000)", timeout=20) is not None, timeout=90)
    finally:
        os.kill(server, signal.SIGCONT)
    cluster.wait("the thawed server fenced (read-only)", lambda: old not in cluster.writables(range(3)), timeout=60)
    assert _watch_writables(cluster, range(3), 5) == 1
    cluster.wait("healthy, the old primary a replica again", lambda: cluster.healthy(range(3)) == new, timeout=120)
    assert cluster.wait("same data everywhere", lambda: cluster.ids(old) == cluster.ids(new), timeout=60)
    assert 30000 in cluster.ids(old)
    assert "the server takes writes but this member is not the primary: fencing it" in _log(cluster, old) \
        or "no longer the primary" in _log(cluster, old)


def _has_process(cluster, ordinal, name):
    try:
        cluster.pid(ordinal, name)
        return True
    except LookupError:
        return False


def test_all_pods_restarted_at_once_come_back_with_exactly_one_primary(cluster):
    before = cluster.ids(cluster.healthy(range(3)))
    for i in range(3):
        cluster.kill(i)
    t0 = time.monotonic()
    for i in range(3):
        cluster.start(i)
    most = _watch_writables(cluster, range(3), 15)
    primary = cluster.wait("healthy after a full restart", lambda: cluster.healthy(range(3)), timeout=120)
    print(f"\nfull restart -> healthy in {time.monotonic() - t0:.1f}s, primary mysql-{primary}")
    assert most <= 1
    assert cluster.ids(primary) == before


# -- switchover and scaling --------------------------------------------------------------------

def test_scale_to_five_adds_cloned_replicas(cluster, chart, api):
    cluster.render(_render(chart, api, 5))
    for i in (3, 4):
        cluster.start(i)
    for i in (2, 1, 0):  # the rolling update: the other pods restart with the new peer list
        cluster.stop(i)
        cluster.start(i)
        cluster.wait(f"mysql-{i} ready again", lambda i=i: cluster.ready(i), timeout=120)
    p = cluster.wait("5 members: one primary, 4 replicas", lambda: cluster.healthy(range(5)), timeout=240)
    assert cluster.wait("every member has every row", lambda: all(cluster.ids(i) == cluster.ids(p) for i in range(5)),
                        timeout=60)
    assert all("seeding from mysql-" in _log(cluster, i) for i in (3, 4))


def test_switchover_hands_the_primary_over_in_seconds_to_a_staying_replica(cluster, api):
    old = cluster.healthy(range(5))
    # the pods 0-3 (but the primary) are being deleted: the one replica that stays is mysql-4
    marked = [i for i in range(4) if i != old]
    for i in marked:
        api.mark_deleting(cluster.name(i))
    writer = Writer(cluster, 4, 30_000, seconds=15)
    writer.start()
    time.sleep(2)
    t0 = time.monotonic()
    hooks = cluster.stop(old)  # preStop hooks, then SIGTERM
    stopped = time.monotonic() - t0
    seconds, new = _wait_new_primary(cluster, old, range(5), timeout=30)
    for i in marked:
        api.unmark(cluster.name(i))
    writer.join()
    print(f"\nswitchover: preStop of mysql-{old} took {stopped:.1f}s; mysql-{new} writable after "
          f"{stopped + seconds:.1f}s; writer {len(writer.acked)} acknowledged, {writer.failed} refused")
    assert new == 4
    assert "switchover to mysql-4" in _log(cluster, old) and "handed over to mysql-4" in _log(cluster, old)
    # handed over, not won in an election after the old Lease ran out (how fast: make bench)
    assert "promoting mysql-4 to primary (holds the Lease)" in _log(cluster, 4)
    assert "took the Lease" not in _log(cluster, 4)
    assert not writer.acked - cluster.ids(new)
    cluster.start(old)
    cluster.wait("healthy, the old primary a replica", lambda: cluster.healthy(range(5)) == new, timeout=120)
    print(hooks)


def test_scale_down_to_three_switches_over_from_a_removed_primary(cluster, chart, api):
    primary = cluster.healthy(range(5))
    assert primary == 4
    rows = cluster.ids(primary)
    cluster.render(_render(chart, api, 3))
    for i in (3, 4):
        api.mark_deleting(cluster.name(i))
    import threading
    threads = [threading.Thread(target=cluster.stop, args=(i,)) for i in (3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    new = cluster.wait("a primary among the staying pods", lambda: next(
        (i for i in range(3) if cluster.writable(i) and cluster.holder() == cluster.name(i)), None), timeout=30)
    assert "switchover to mysql-" in _log(cluster, 4)
    for i in (2, 1, 0):  # the rolling update to the 3-member peer list
        cluster.stop(i)
        cluster.start(i)
    p = cluster.wait("3 members healthy", lambda: cluster.healthy(range(3)), timeout=180)
    assert cluster.ids(p) == rows
    print(f"\nscale-down: mysql-4 handed over to mysql-{new}; now mysql-{p} is the primary of 3")
