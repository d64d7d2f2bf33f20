"""Member-level runtime test of the redis chart, both flavors, with real servers and sentinels:
Debian trixie's redis-server/redis-sentinel 8.0 (flavor redis) and valkey-server/valkey-sentinel
8.1 (flavor valkey), no Kubernetes: one network namespace per pod, the pods' FQDNs resolving
inside each; every pod runs its rendered containers (start-redis.sh -> the server,
start-sentinel.sh -> the sentinel, the agent) in its image's root with exactly the command lines,
environment and volumes the rendered StatefulSet gives it. The tests run in order on one 3-pod
cluster per flavor (auth on, the chart's default timings: down-after 5 s).
"""

import os
import signal
import stat
import time

import pytest

import chartgen
from chartgen.helm import Helm
from tests.infra.netns import PodNetwork
from tests.runtime.redis_cluster import RedisPods

pytestmark = [pytest.mark.runtime, pytest.mark.timeout(600)]

if os.geteuid() != 0:  # pragma: no cover - CI and developers' machines run as root
    pytest.skip("network namespaces need root", allow_module_level=True)

NS = "default"
STS = "redis-node"
FQDN = "redis-node-{i}.redis-headless.default.svc.cluster.local"
ACKED = 200


@pytest.fixture(scope="module", params=["redis", "valkey"])
def flavor(request):
    return request.param


@pytest.fixture(scope="module")
def chart(tmp_path_factory, flavor):
    return chartgen.generate("redis", "redis", flavor=flavor, output=tmp_path_factory.mktemp("chart") / "redis")


def _hosts(n):
    return {f"{STS}-{i}": [FQDN.format(i=i)] for i in range(n)}


@pytest.fixture(scope="module")
def cluster(chart, flavor, tmp_path_factory):
    objects = Helm().template(chart.path, "redis", NS)
    with PodNetwork(_hosts(3)) as net:
        yield RedisPods(objects, tmp_path_factory.mktemp("pods"), net, engine=flavor)


def _log(cluster, i):
    return cluster.log(i).read_text()


def _count_acked(cluster, via):
    return len([k for k in cluster.out(via, "KEYS", "acked:*").splitlines() if k])


def _watch_masters(cluster, seconds):
    """Poll every pod's role for SECONDS; the largest number of simultaneous masters seen."""
    most, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        most = max(most, len(cluster.masters(range(3))))
        time.sleep(0.1)
    return most


def _wait_failover(cluster, old, t0=None):
    """Seconds from T0 (now) until a pod other than OLD accepts a write, and that pod."""
    t0 = t0 or time.monotonic()
    others = [i for i in range(3) if i != old]
    new = cluster.wait("a writable new master", lambda: next((i for i in others if cluster.writable(i)), None),
                       timeout=60, interval=0.1)
    return time.monotonic() - t0, new


def test_pods_form_one_master_with_linked_replicas_and_agreeing_sentinels(cluster):
    t0 = time.monotonic()
    for i in range(3):
        cluster.start(i)
    master = cluster.wait("one master, 2 linked replicas, 3 sentinels agreeing",
                          lambda: cluster.healthy(range(3)), timeout=60)
    print(f"\ninstall to healthy: {time.monotonic() - t0:.1f}s")
    assert master == 0  # only ordinal 0 may bootstrap a new cluster
    assert "starting as MASTER (first start" in _log(cluster, 0)
    for i in (1, 2):
        assert "starting as replica of redis-node-0" in _log(cluster, i)
    info = cluster.sentinel_info(1)
    assert info["ip"] == FQDN.format(i=0)  # addressed by FQDN, never by IP
    cluster.wait("each sentinel sees 2 replicas and 2 other sentinels", lambda: all(
        (s := cluster.sentinel_info(i)) and s["num-slaves"] == "2" and s["num-other-sentinels"] == "2"
        for i in range(3)))
    assert info["quorum"] == "2" and info["down-after-milliseconds"] == "5000"
    # replicas announce their FQDN (a pod that comes back with a new IP is the same replica)
    assert f"ip={FQDN.format(i=1)}" in cluster.out(0, "INFO", "replication")
    # the agent works out roles; without a service account token it labels nothing
    cluster.wait("agent roles", lambda: [cluster.agent_role(i) for i in range(3)] == ["master", "replica", "replica"])
    assert "role labels are off" in _log(cluster, 0)
    # every sentinel reads its replicas' offsets every second (the agent's SENTINEL DEBUG), so a
    # failover never ranks them on offsets from before the master stopped
    def info_periods():
        return [dict(zip(*[iter(cluster.out(i, "SENTINEL", "DEBUG", sentinel=True).splitlines())] * 2))
                .get("INFO-PERIOD") for i in range(3)]
    cluster.wait("sentinels reading INFO every 1000 ms", lambda: info_periods() == ["1000"] * 3, timeout=20)
    assert "sentinel reads its replicas' offsets every 1000 ms (was 10000 ms)" in _log(cluster, 0)


def test_password_is_required_and_kept_out_of_the_configmaps(cluster):
    noauth = cluster.cli(1, "GET", "x", host=FQDN.format(i=0), auth=False)
    assert "NOAUTH" in noauth.stdout + noauth.stderr
    noauth = cluster.cli(1, "SENTINEL", "masters", host=FQDN.format(i=0), sentinel=True, auth=False)
    assert "NOAUTH" in noauth.stdout + noauth.stderr
    password = cluster.env(0)["REDIS_PASSWORD"]
    assert len(password) == 32
    config = next(o for o in cluster.objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "redis-config")
    assert password not in str(config)
    generated = cluster.workdir / f"{STS}-0" / "volumes" / "run" / "redis.conf"
    assert f"requirepass \"{password}\"" in generated.read_text()
    assert stat.S_IMODE(generated.stat().st_mode) == 0o600


def _helm_test(cluster, via=1):
    """The rendered helm test Pod, run in pod VIA's network namespace (same render: same password)."""
    pod_obj = next(o for o in cluster.objects if o["kind"] == "Pod")
    # a Service needs Kubernetes; the e2e suite checks MASTER_SERVICE
    return cluster.run_workload(pod_obj, via, timeout=120, unset=("MASTER_SERVICE",))


def test_helm_test_script_passes_on_the_healthy_cluster(cluster):
    proc = _helm_test(cluster)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "OK: 1 master (redis-node-0), 2 linked replica(s), 3 sentinel(s) agree" in proc.stderr


# probe.sh redis-ready against two scratch servers in a pod's redis container (loopback, ports of
# their own, no password; the cluster is not touched): B never synced, synced, then its master gone
READINESS = """
set -u
d=$DATA_DIR/probe-test
mkdir -p "$d"
serve() { p=$1; shift; {engine}-server --port "$p" --bind 127.0.0.1 --protected-mode no --save '' --appendonly no \
  --dir "$d" --logfile "$d/$p.log" --daemonize yes --repl-diskless-sync yes --repl-diskless-sync-delay 0 "$@"; }
cli() { timeout 2 {engine}-cli -p "$@"; }
ready() { SERVER_PORT=7102 REDIS_PASSWORD= LINK_GRACE_SECONDS=$1 sh /scripts/probe.sh redis-ready; echo "rc=$?"; }
until_() { n=0; until eval "$1"; do n=$((n + 1)); [ $n -lt 300 ] || { echo "timeout: $1"; break; }; sleep 0.1; done; }
serve 7101
serve 7102 --replicaof 127.0.0.1 7199
until_ '[ "$(cli 7102 PING)" = PONG ]'
echo "== never synced"; ready 600
cli 7102 REPLICAOF 127.0.0.1 7101 >/dev/null
until_ 'cli 7102 INFO replication | grep -q "^master_link_status:up"'
echo "== synced"; ready 0
cli 7101 SHUTDOWN NOSAVE >/dev/null 2>&1
until_ 'cli 7102 INFO replication | grep -q "^master_link_status:down"'
echo "== link lost, within the grace"; ready 600
echo "== link lost, past the grace"; ready 0
cli 7102 SHUTDOWN NOSAVE >/dev/null 2>&1
rm -rf "$d"
"""


def test_a_replica_stays_ready_through_a_short_link_loss_but_not_before_its_first_sync(cluster):
    """Ready = linked, or synced since start and unlinked for less than LINK_GRACE_SECONDS
    (repl-timeout): a master that stalls for a moment must not take every replica out of the
    Services and hold a rolling update up; a replica that never synced stays out."""
    master = cluster.healthy(range(3))
    replica = next(i for i in range(3) if i != master)
    env = cluster.env(replica)
    assert env["LINK_GRACE_SECONDS"] == "20"  # redis.replTimeout
    proc = cluster.run(replica, "redis", ["sh", "-c", READINESS.replace("{engine}", cluster.engine)],
                       env={**env, "CLI_TIMEOUT": "5"})
    out = proc.stdout
    assert "timeout:" not in out, out + proc.stderr
    steps = dict(part.split("\n", 1) for part in out.split("== ")[1:])
    assert steps["never synced"].strip().endswith("rc=1") and "not synced since it started" in steps["never synced"], out
    assert steps["synced"].strip() == "rc=0", out
    assert steps["link lost, within the grace"].strip() == "rc=0", out
    assert steps["link lost, past the grace"].strip().endswith("rc=1"), out
    assert "replica of 127.0.0.1: link connect (down for" in steps["link lost, past the grace"], out


def test_master_killed_a_replica_is_promoted_and_acknowledged_writes_survive(cluster):
    master = cluster.healthy(range(3))
    for n in range(ACKED):  # acknowledged = written and confirmed by at least one replica
        assert cluster.out(master, "SET", f"acked:{n:04d}", "v") == "OK"
        assert int(cluster.out(master, "WAIT", "1", "2000")) >= 1
    cluster.kill(master)  # SIGKILL: the pod is gone without a word
    seconds, new = _wait_failover(cluster, master)
    print(f"\nfailover: redis-node-{master} killed -> redis-node-{new} writable after {seconds:.2f}s")
    assert cluster.role(new)[0] == "master"
    assert _count_acked(cluster, new) == ACKED  # nothing acknowledged was lost
    assert cluster.wait("sentinels agree on the new master", lambda: all(
        cluster.sentinel_master(i) == FQDN.format(i=new) for i in range(3) if i != master))
    cluster.old_master = master


def test_the_old_master_comes_back_as_a_replica_never_as_a_second_master(cluster):
    old = cluster.old_master
    cluster.start(old)
    roles = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # from its very first answer
        role = cluster.role(old)
        if role:
            roles.append(role[0])
            if role[0] == "slave" and role[3] == "connected":
                break
        time.sleep(0.05)
    assert roles and set(roles) == {"slave"}, roles
    new = cluster.wait("healthy with the old master as a replica", lambda: cluster.healthy(range(3)))
    assert new != old
    assert f"starting as replica of redis-node-{new}" in _log(cluster, old)
    cluster.wait("old master has every acknowledged write", lambda: _count_acked(cluster, old) == ACKED)


def test_a_master_restarted_with_an_empty_volume_never_wipes_its_replicas(cluster):
    """Restarted before the sentinels noticed, with its dataset gone: it must not serve its
    empty dataset as master (replicas would copy it); it waits for the failover instead."""
    master = cluster.healthy(range(3))
    cluster.kill(master)
    cluster.start(master, fresh_data=True)
    _, new = _wait_failover(cluster, master)
    assert "has no dataset; waiting for them to promote a replica" in _log(cluster, master)
    cluster.wait("healthy again", lambda: cluster.healthy(range(3)) == new)
    assert _count_acked(cluster, new) == ACKED
    cluster.wait("the emptied pod copied the data back", lambda: _count_acked(cluster, master) == ACKED)


def _freeze(cluster, ordinal, frozen: bool):
    """A hung pod: every process of it stopped (SIGSTOP), as a cgroup freeze does."""
    os.killpg(cluster.net.process(cluster.name(ordinal)).pid, signal.SIGSTOP if frozen else signal.SIGCONT)


def _sentinels_agree(cluster):
    named = {cluster.sentinel_master(i) for i in range(3)}
    return cluster.healthy(range(3)) if len(named) == 1 else None


@pytest.mark.parametrize("restart_after_thaw", [False, True], ids=["thawed", "thawed-then-restarted"])
def test_a_frozen_master_thawed_rejoins_and_every_sentinel_agrees(cluster, restart_after_thaw):
    """The master hangs past down-after (its sentinel and agent too), a replica is promoted;
    thawed, the old master's sentinel must follow the majority and its redis-server become a
    replica: exactly one master, named by all three sentinels. With restart_after_thaw its
    containers are also restarted (what the kubelet does after failed liveness probes), so
    start-sentinel.sh runs with the sentinel state its volume kept from before the freeze."""
    master = cluster.healthy(range(3))
    _freeze(cluster, master, True)
    try:
        _, new = _wait_failover(cluster, master)
    finally:
        _freeze(cluster, master, False)
    if restart_after_thaw:
        cluster.kill(master)
        cluster.start(master)
    healed = cluster.wait("one master that all three sentinels name", lambda: _sentinels_agree(cluster), timeout=120)
    assert healed == new and cluster.role(master)[0] == "slave"
    assert _watch_masters(cluster, 5) == 1
    cluster.wait("the old master has every acknowledged write", lambda: _count_acked(cluster, master) == ACKED)


def test_a_master_restarted_at_once_stays_the_only_master(cluster):
    """Killed and back within a second, before down-after: the sentinels still name it."""
    master = cluster.healthy(range(3))
    cluster.kill(master)
    cluster.start(master)
    assert _watch_masters(cluster, 10) == 1
    m = cluster.wait("healthy", lambda: cluster.healthy(range(3)))
    assert _count_acked(cluster, m) == ACKED


def test_prestop_hands_mastership_over_before_the_master_stops(cluster):
    master = cluster.healthy(range(3))
    t0 = time.monotonic()
    hooks = cluster.stop(master)  # preStop hooks, then SIGTERM
    handover = time.monotonic() - t0
    print(f"\npreStop handover: {handover:.2f}s")
    assert "failover asked of the sentinel" in hooks
    assert "is now its replica" in hooks  # it stopped as a replica: no second master on the way out
    others = [i for i in range(3) if i != master]
    new = next(i for i in others if cluster.role(i)[:1] == ["master"])
    assert cluster.writable(new)  # no down-after wait: a master is there already
    assert handover < 15
    assert _count_acked(cluster, new) == ACKED
    cluster.start(master)
    cluster.wait("healthy, the stopped pod a replica", lambda: cluster.healthy(range(3)) == new)


def test_a_sentinel_in_tilt_mode_does_not_hold_the_handover_up(cluster):
    """A sentinel whose clock jumped (here: stopped for 3 s, as a starved CPU would) enters TILT
    mode for 30 s: it answers OK to SENTINEL FAILOVER but does nothing until TILT ends. The
    preStop hook must ask another sentinel."""
    master = cluster.healthy(range(3))
    first = next(i for i in range(3) if i != master)  # the sentinel the hook would ask first
    pid = cluster.pid(first, f"{cluster.engine}-sentinel")
    os.kill(pid, signal.SIGSTOP)
    time.sleep(3)
    os.kill(pid, signal.SIGCONT)
    cluster.wait("TILT", lambda: "sentinel_tilt:1" in cluster.out(first, "INFO", "sentinel", sentinel=True))
    t0 = time.monotonic()
    hooks = cluster.stop(master)
    seconds, new = _wait_failover(cluster, master, t0)
    print(f"\npreStop handover past a TILTed sentinel: {seconds:.2f}s")
    assert f"the sentinel of redis-node-{first} is in TILT mode" in hooks
    assert "is now its replica" in hooks  # handed over by another sentinel (how fast: make bench)
    cluster.start(master)
    cluster.wait("healthy", lambda: cluster.healthy(range(3)) == new, timeout=60)


def test_all_pods_restarted_at_once_end_with_exactly_one_master(cluster):
    before = cluster.healthy(range(3))
    for i in range(3):
        cluster.kill(i)
    t0 = time.monotonic()
    for i in range(3):
        cluster.start(i)
    assert _watch_masters(cluster, 8) == 1  # never two at once on the way
    master = cluster.wait("healthy after a full restart", lambda: cluster.healthy(range(3)), timeout=60)
    print(f"\nfull restart to healthy: {time.monotonic() - t0:.1f}s")
    assert master == before  # the sentinels' saved state: the same master, not ordinal 0
    assert _count_acked(cluster, master) == ACKED


def test_helm_test_script_fails_when_a_replica_is_down(cluster):
    master = cluster.healthy(range(3))
    replica = next(i for i in range(3) if i != master)
    cluster.kill(replica)
    proc = _helm_test(cluster, via=master)
    assert proc.returncode != 0
    assert f"redis-node-{replica}:no-answer" in proc.stderr
    cluster.start(replica)
    cluster.wait("healthy", lambda: cluster.healthy(range(3)) == master)


def test_single_pod_without_auth_serves_remote_clients(chart, flavor, tmp_path):
    """auth.enabled=false: protected-mode must be off or only localhost could connect."""
    objects = Helm().template(chart.path, "redis", NS, {"replicaCount": 1, "auth": {"enabled": False}})
    with PodNetwork(_hosts(1)) as net:
        pods = RedisPods(objects, tmp_path, net, engine=flavor)
        pods.start(0)
        pods.wait("a single master its sentinel monitors", lambda: pods.healthy([0]) == 0)
        # connecting to its own FQDN is not a loopback connection
        assert pods.out(0, "SET", "k", "v", host=FQDN.format(i=0)) == "OK"
        assert pods.out(0, "SENTINEL", "get-master-addr-by-name", "mymaster", host=FQDN.format(i=0),
                        sentinel=True).splitlines()[0] == FQDN.format(i=0)
        assert pods.sentinel_info(0)["quorum"] == "1"
        assert "min-replicas-to-write 0" in (tmp_path / f"{STS}-0" / "volumes" / "run" / "redis.conf").read_text()
        pods.kill(0, signal.SIGKILL)
        pods.start(0)  # a single pod restarts as the master, from its own data
        pods.wait("master again", lambda: pods.healthy([0]) == 0)
        assert pods.out(0, "GET", "k") == "v"
