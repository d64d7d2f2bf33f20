"""Member-level runtime test of the postgresql chart with real PostgreSQL 17 servers and a real
Kubernetes API server for the Lease.

Debian trixie's postgresql-17 stands in for the official postgres:17 image's server (same
major, same paths, uid 999, a userland pruned to the image's tools); one network namespace per
pod, the pods' FQDNs resolving inside each; every pod runs its rendered containers (start.sh ->
postgres, the agent, the kubectl proxy sidecar) in its image's root with exactly the command
lines, environment and volumes the rendered StatefulSet gives it. The kubectl sidecar talks to
a bare API server (tests/infra/apiserver.py) with a token of the release's ServiceAccount, so
the Lease, the compare-and-swap renewals and the role labels are real. The tests run in order on
one cluster (quorum synchronous commit: ANY 1 of the other two; the chart's default timings:
Lease 6 s, renewal every 2 s).
"""

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import chartgen
from chartgen.helm import Helm
from chartgen.versions import pin
from tests.infra.apiserver import NAME as API_HOST
from tests.infra.apiserver import ApiServer
from tests.infra.netns import PodNetwork
from tests.runtime.mysql_cluster import MemberApi
from tests.runtime.postgresql_cluster import PgPods, Writer

pytestmark = [pytest.mark.runtime, pytest.mark.timeout(900)]

if os.geteuid() != 0:  # pragma: no cover - CI and developers' machines run as root
    pytest.skip("network namespaces need root", allow_module_level=True)

STS = "pg"
ROWS = 300


@pytest.fixture(scope="module")
def chart(tmp_path_factory):
    return chartgen.generate("postgresql", STS, output=tmp_path_factory.mktemp("chart") / STS)


@pytest.fixture(scope="module")
def api():
    with ApiServer() as server:
        yield MemberApi(server, "chartgen-rt-pg")


# run once when the cluster is created, on ordinal 0 before it first serves
INIT = {"01-schema.sql": "CREATE TABLE seeded (id int PRIMARY KEY);\n",
        "02-rows.sql": "INSERT INTO seeded\n  VALUES (1), (2);\n"}


def _render(chart, api, n, **values):
    return Helm().template(chart.path, STS, api.name, {"replicaCount": n, "initdbScripts": INIT, **values})


def _fqdn(api, i):
    return f"{STS}-{i}.{STS}-headless.{api.name}.svc.cluster.local"


@pytest.fixture(scope="module")
def cluster(chart, api, tmp_path_factory):
    objects = _render(chart, api, 3)
    hosts = {f"{STS}-{i}": [_fqdn(api, i)] for i in range(5)}  # room for the scale-up
    with PodNetwork(hosts, host_names=[API_HOST]) as net:
        pods = PgPods(objects, tmp_path_factory.mktemp("pods"), net, api)
        pods.cmdlines = CommandLines(pods, [f"{STS}-{i}" for i in range(5)])
        yield pods
        pods.cmdlines.stop.set()
        print(pods.logs()[-20000:])


class CommandLines(threading.Thread):
    """Every command line seen in the pods, sampled every few milliseconds from /proc (the
    scripts call PostgreSQL's programs by their path, so no PATH wrapper can record them)."""

    def __init__(self, pods, names):
        super().__init__(daemon=True)
        self.pods, self.names, self.seen, self.stop = pods, names, set(), threading.Event()
        self.start()

    def run(self):
        while not self.stop.is_set():
            for name in self.names:
                try:
                    pids = self.pods.net.pids(name)
                except Exception:  # noqa: BLE001 - a pod not started yet
                    continue
                for pid in pids:
                    try:
                        self.seen.add(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                    except OSError:
                        pass
            time.sleep(0.005)


def _log(cluster, i):
    return cluster.log(i).read_text()


def _acked(cluster, primary, first, n):
    """N rows committed one by one through PRIMARY (each commit waits for a standby)."""
    values = ", ".join(f"({i})" for i in range(first, first + n))
    assert cluster.out(primary, f"INSERT INTO acked (id) VALUES {values}") is not None


@pytest.fixture(autouse=True)
def _no_writer_left(request):
    """Every writer a test started is stopped when it ends, passed or failed: none writes on into
    the next test."""
    yield
    if "cluster" in request.fixturenames:
        pods = request.getfixturevalue("cluster")
        for w in pods.writers:
            w.stop.set()
            w.join(timeout=30)
        pods.writers.clear()
        pods.revive(range(pods.size))  # a failed test leaves no member killed or frozen behind


def _settled(cluster, ordinals=range(3), timeout=60):
    """The primary once ORDINALS are healthy (a member that just started streaming may switch to
    its slot a moment later: its receiver reconnects)."""
    return cluster.wait(f"{len(ordinals)} members healthy", lambda: cluster.healthy(ordinals), timeout=timeout)


def _wait_new_primary(cluster, old, ordinals, timeout=60):
    t0 = time.monotonic()
    new = cluster.wait("a new primary out of recovery, holding the Lease", lambda: next(
        (i for i in ordinals if i != old and cluster.holder() == cluster.name(i) and cluster.primaries([i])), None),
        timeout=timeout, interval=0.1)
    return time.monotonic() - t0, new


@contextlib.contextmanager
def _counting_primaries(cluster, ordinals=range(3), interval=0.1):
    """While the block runs: the largest number of ORDINALS out of recovery at once, in most[0]."""
    most, stop = [0], threading.Event()

    def watch():
        while not stop.is_set():
            most[0] = max(most[0], len(cluster.primaries(ordinals)))
            time.sleep(interval)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield most
    finally:
        stop.set()
        watcher.join()


def _watch_primaries(cluster, ordinals, seconds):
    """Poll every pod for SECONDS: the largest number of members out of recovery at once."""
    most, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        most = max(most, len(cluster.primaries(ordinals)))
        time.sleep(0.2)
    return most


# -- formation ----------------------------------------------------------------------------------

def test_pods_form_one_primary_holding_the_lease_and_streaming_standbys(cluster):
    t0 = time.monotonic()
    for i in range(3):
        cluster.start(i)
    primary = cluster.wait("one primary holding the Lease, 2 streaming standbys",
                           lambda: cluster.healthy(range(3)), timeout=180)
    print(f"\nstart to healthy: {time.monotonic() - t0:.1f}s")
    assert primary == 0  # only ordinal 0 creates a new cluster
    assert "initializing a new cluster" in _log(cluster, 0)
    assert "running 01-schema.sql" in _log(cluster, 0) and "running 02-rows.sql" in _log(cluster, 0)
    for i in range(3):  # the initdbScripts' rows, copied with the data
        assert cluster.out(i, "SELECT string_agg(id::text, ',' ORDER BY id) FROM seeded") == "1,2"
    for i in (1, 2):
        assert f"copying {STS}-0 (pg_basebackup)" in _log(cluster, i) or "(pg_basebackup)" in _log(cluster, i)
    assert cluster.out(0, "SHOW synchronous_standby_names") == f'ANY 1 ("{STS}-1", "{STS}-2")'
    assert cluster.out(0, "SHOW data_checksums") == "on"
    slots = cluster.out(0, "SELECT slot_name || ' ' || active FROM pg_replication_slots ORDER BY 1")
    assert slots == f"{STS}_1 true\n{STS}_2 true"
    assert cluster.wait("role labels", lambda: cluster.api.labels([f"{STS}-{i}" for i in range(3)]) ==
                        {f"{STS}-0": "primary", f"{STS}-1": "replica", f"{STS}-2": "replica"})
    lease = cluster.api.lease(cluster.lease_name)
    assert lease["spec"]["holderIdentity"] == f"{STS}-0" and lease["spec"]["leaseDurationSeconds"] == 6
    assert all(cluster.wait(f"{STS}-{i} ready", lambda i=i: cluster.ready(i)) for i in range(3))


def test_a_standby_refuses_writes_and_no_secret_is_on_a_command_line(cluster):
    assert cluster.out(0, "CREATE TABLE acked (id int PRIMARY KEY)") is not None
    proc = cluster.sql(1, "BEGIN; SET TRANSACTION READ WRITE; INSERT INTO acked (id) VALUES (-1); COMMIT")
    assert proc.returncode != 0 and "recovery" in proc.stderr, proc.stderr
    # the harness's launchers (nsenter/env -i ... chroot ...) carry the environment of what they
    # start (a container's, the test's own client): not the chart's command lines
    seen = "\n".join(c for c in cluster.cmdlines.seen if "/usr/sbin/chroot " not in c)
    assert "/bin/psql " in seen and "/bin/postgres " in seen  # the sampler sees the scripts' clients
    for secret in (cluster.password, cluster.env(0, "postgresql")["REPLICATION_PASSWORD"]):
        assert secret not in seen


def test_helm_test_script_passes(cluster):
    test = next(o for o in cluster.objects if o["kind"] == "Pod")
    for e in test["spec"]["containers"][0]["env"]:  # no Service here: the primary's FQDN stands for -rw
        if e["name"] == "PRIMARY_SERVICE":
            e["value"] = cluster.fqdn(cluster.healthy(range(3)))
    proc = cluster.run_workload(test, 1, timeout=180)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert f"OK: 1 primary ({STS}-0)" in proc.stderr


# -- seeding ------------------------------------------------------------------------------------

def test_a_standby_seeded_after_data_exists(cluster):
    primary = _settled(cluster)
    _acked(cluster, primary, 0, ROWS)
    victim = 2
    cluster.kill(victim)
    cluster.start(victim, fresh_data=True)  # an empty volume
    cluster.wait("healthy with the emptied member seeded", lambda: cluster.healthy(range(3)) == primary, timeout=120)
    assert _log(cluster, victim).count("(pg_basebackup)") >= 2
    assert cluster.ids(victim) == set(range(ROWS))


# -- failover -----------------------------------------------------------------------------------

def test_primary_killed_a_standby_takes_the_lease_and_no_acknowledged_commit_is_lost(cluster):
    old = _settled(cluster)
    via = next(i for i in range(3) if i != old)
    writer = Writer(cluster, via, 10_000, seconds=60)
    writer.start()
    time.sleep(3)
    cluster.kill(old)  # SIGKILL: gone without a word, the Lease is not renewed
    seconds, new = _wait_new_primary(cluster, old, range(3))
    print(f"\nfailover: {STS}-{old} killed -> {STS}-{new} primary holding the Lease after {seconds:.1f}s")
    before = set(writer.acked)
    cluster.wait("commits through the new primary", lambda: writer.acked - before, timeout=30)
    writer.stop.set()
    writer.join()
    have = cluster.ids(new)
    assert len(before) >= 3, "commits before the failover"
    lost = writer.acked - have
    assert not lost, f"{len(lost)} acknowledged commits lost: {sorted(lost)[:10]}"
    assert set(range(ROWS)) <= have
    # the agent labels its pod once promoted: a moment later on a loaded API server
    names = [f"{STS}-{i}" for i in range(3)]
    assert cluster.wait("the new primary labelled, the old one not", lambda: (
        lambda labels: labels[f"{STS}-{new}"] == "primary" and labels[f"{STS}-{old}"] != "primary")(
        cluster.api.labels(names)), timeout=30)
    # the old primary comes back as a standby of the new one (rewound when it had WAL the new
    # primary's history lacks)
    cluster.start(old)
    cluster.wait("the old primary streams from the new one", lambda: cluster.healthy(range(3)) == new, timeout=120)
    assert cluster.ids(old) >= writer.acked


def test_a_frozen_primary_takes_no_write_after_its_lease_expired_and_rejoins(cluster):
    old = _settled(cluster)
    via = next(i for i in range(3) if i != old)
    writer = Writer(cluster, via, 20_000, seconds=90)
    writer.start()
    time.sleep(3)
    for pid in cluster.net.pids(cluster.name(old)):
        os.kill(pid, signal.SIGSTOP)  # the whole pod hangs: the server, its agent, its sidecar
    try:
        seconds, new = _wait_new_primary(cluster, old, range(3))
        print(f"\nfailover: {STS}-{old} frozen -> {STS}-{new} primary after {seconds:.1f}s")
    finally:
        for pid in cluster.net.pids(cluster.name(old)):
            os.kill(pid, signal.SIGCONT)
    # thawed: the old primary's agent finds its Lease gone and stops its server; it must never
    # acknowledge a commit meanwhile (its standbys follow the new primary: no quorum)
    direct = cluster.sql(via, "INSERT INTO acked (id) VALUES (-2)", host=cluster.fqdn(old), timeout=20)
    assert direct.returncode != 0 or "WARNING" in direct.stderr, "the thawed old primary acknowledged a commit"
    cluster.wait("the old primary streams from the new one", lambda: cluster.healthy(range(3)) == new, timeout=180)
    writer.stop.set()
    writer.join()
    have = cluster.ids(new)
    lost = writer.acked - have
    assert not lost, f"{len(lost)} acknowledged commits lost: {sorted(lost)[:10]}"
    assert -2 not in have
    assert cluster.ids(old) == have


def test_a_primary_cut_off_acknowledges_nothing_and_rejoins_as_a_standby(cluster):
    """Its network down (peers, clients, the API server) while its processes run on: a client on
    its own socket keeps committing; not one of those commits may be acknowledged and then lost."""
    old = _settled(cluster)
    local, stop = {}, threading.Event()

    def write_locally():
        i = 40_000
        while not stop.is_set():
            i += 1
            try:
                proc = cluster.run(old, "postgresql", ["/usr/lib/postgresql/17/bin/psql", "-X", "-q", "-h",
                                                       "/var/run/postgresql", "-U", "postgres", "-c",
                                                       f"INSERT INTO acked (id) VALUES ({i})"], timeout=30)
                local[i] = proc.returncode == 0 and "WARNING" not in proc.stderr
            except Exception:  # noqa: BLE001 - a hung or refused commit is simply not acknowledged
                local[i] = False

    thread = threading.Thread(target=write_locally, daemon=True)
    thread.start()
    time.sleep(2)
    cluster.net.cut_off(cluster.name(old))
    try:
        seconds, new = _wait_new_primary(cluster, old, range(3))
        print(f"\nfailover: {STS}-{old} cut off -> {STS}-{new} primary after {seconds:.1f}s")
        time.sleep(10)  # the old primary, cut off, on its own for a while
    finally:
        cluster.net.cut_off(cluster.name(old), False)
    stop.set()
    thread.join(timeout=60)
    acked = {i for i, ok in local.items() if ok}
    print(f"local client on the cut-off primary: {len(local)} commits tried, {len(acked)} acknowledged")
    assert acked, "the local client committed nothing before the cut: it tests nothing"
    assert "stopping the server" in _log(cluster, old)  # it fenced itself: no Lease renewal
    cluster.wait("the old primary streams from the new one", lambda: cluster.healthy(range(3)) == new, timeout=180)
    have = cluster.ids(new)
    lost = acked - have
    assert not lost, f"{len(lost)} commits acknowledged on the cut-off primary are lost: {sorted(lost)[:10]}"
    assert cluster.ids(old) == have


# -- the Kubernetes API unreachable -------------------------------------------------------------
LEASE, FENCE = 6, 3  # the chart's defaults: the Lease, and a primary's fencing time (Lease - renewal - 1)


def test_the_api_unreachable_costs_no_write_while_every_standby_streams_from_the_primary(cluster, api):
    """failover.failsafe: the API server hangs for three Leases: nobody can renew or take the
    Lease, the primary goes on committing (every other member streams from it), nobody promotes,
    and once the API answers again the same primary renews (the standbys give it a whole Lease)."""
    old = _settled(cluster)
    via = next(i for i in range(3) if i != old)
    seen = len(_log(cluster, old))
    writer = Writer(cluster, via, 50_000, seconds=120, to=old)
    writer.start()
    time.sleep(3)
    with api.api.unreachable():
        time.sleep(FENCE + 2)  # past the primary's fencing time
        before = set(writer.acked)
        most = _watch_primaries(cluster, range(3), 3 * LEASE)
        during = writer.acked - before
    print(f"\nAPI away {FENCE + 2 + 3 * LEASE}s: {len(during)} commits acknowledged by {STS}-{old} after its fencing time")
    assert most == 1, f"{most} members out of recovery at once"
    assert during, "no commit was acknowledged while the API was away: the primary fenced itself"
    time.sleep(LEASE + 2)
    assert _settled(cluster) == old, "a failover followed the API's return"
    after = _log(cluster, old)[seen:]
    assert "failsafe: the Lease was not renewed" in after and "stopping the server" not in after, after[-3000:]
    writer.stop.set()
    writer.join()
    lost = writer.acked - cluster.ids(old)
    assert not lost, f"{len(lost)} acknowledged commits lost: {sorted(lost)[:10]}"


def test_a_primary_alone_without_the_api_stops_before_a_standby_is_writable(cluster, api):
    """Only the primary's pod loses the API: the standbys see its Lease expire and elect; they
    stop receiving first, which ends the old primary's failsafe: it stops its server before the
    new primary promotes (never two members out of recovery), no acknowledged commit lost."""
    old = _settled(cluster)
    via = next(i for i in range(3) if i != old)
    writer = Writer(cluster, via, 60_000, seconds=120)
    writer.start()
    time.sleep(3)
    with _counting_primaries(cluster) as most:
        cluster.net.block(cluster.name(old), cluster.net.host_ip, api.api.port)
        try:
            seconds, new = _wait_new_primary(cluster, old, range(3))
            print(f"\nfailover: {STS}-{old} without the API -> {STS}-{new} primary after {seconds:.1f}s")
            time.sleep(3)
        finally:
            cluster.net.block(cluster.name(old), cluster.net.host_ip, api.api.port, False)
    assert most[0] == 1, f"{most[0]} members out of recovery at once"
    assert "not streaming from it" in _log(cluster, old)
    cluster.wait("the old primary streams from the new one", lambda: cluster.healthy(range(3)) == new, timeout=180)
    writer.stop.set()
    writer.join()
    lost = writer.acked - cluster.ids(new)
    assert not lost, f"{len(lost)} acknowledged commits lost: {sorted(lost)[:10]}"


# -- switchover ---------------------------------------------------------------------------------

def test_a_stopping_primary_hands_over_to_a_standby_without_losing_a_commit(cluster):
    old = _settled(cluster)
    via = next(i for i in range(3) if i != old)
    writer = Writer(cluster, via, 30_000, seconds=60)
    writer.start()
    time.sleep(3)
    t0 = time.monotonic()
    hooks = cluster.stop(old)  # the kubelet: every preStop hook, then SIGTERM
    took = time.monotonic() - t0
    new = cluster.holder()
    assert new and new != cluster.name(old), f"the Lease stayed with {new}; hooks said: {hooks}"
    new = int(new.rsplit("-", 1)[1])
    assert cluster.primaries([new]) == [new], "the Lease moved, but its holder is not promoted"
    print(f"\nswitchover: {STS}-{old} -> {STS}-{new} in {took:.1f}s (the preStop hooks' time)")
    assert f"handed over to {STS}-{new}" in _log(cluster, old)
    before = set(writer.acked)
    cluster.wait("commits through the new primary", lambda: writer.acked - before, timeout=30)
    writer.stop.set()
    writer.join()
    lost = writer.acked - cluster.ids(new)
    assert not lost, f"{len(lost)} acknowledged commits lost: {sorted(lost)[:10]}"
    # the pod comes back (a rolling update): a standby of the new primary, nothing to rewind
    cluster.start(old)
    cluster.wait("the old primary streams from the new one", lambda: cluster.healthy(range(3)) == new, timeout=120)
    assert cluster.ids(old) >= writer.acked



def test_all_pods_restarted_at_once_come_back_with_exactly_one_primary(cluster):
    before = cluster.ids(_settled(cluster))
    for i in range(3):
        cluster.kill(i)
    t0 = time.monotonic()
    for i in range(3):
        cluster.start(i)
    most = _watch_primaries(cluster, range(3), 15)
    primary = cluster.wait("healthy after a full restart", lambda: cluster.healthy(range(3)), timeout=120)
    print(f"\nfull restart -> healthy in {time.monotonic() - t0:.1f}s, primary {STS}-{primary}")
    assert most <= 1
    assert cluster.ids(primary) == before


# -- scaling ------------------------------------------------------------------------------------

def test_scale_to_five_seeds_two_standbys_and_the_quorum_grows(cluster, chart, api):
    rows = cluster.ids(_settled(cluster))
    cluster.render(_render(chart, api, 5))
    for i in (3, 4):
        cluster.start(i)
    # before the roll the primary's peer list has 3 members: the new ones stream without a slot
    cluster.wait(f"{STS}-3 and {STS}-4 stream", lambda: all(
        (cluster.receiver(i) or "").startswith("streaming ") for i in (3, 4)), timeout=120)
    for i in (2, 1, 0):  # the rolling update: the other pods restart with the new peer list
        cluster.stop(i)
        cluster.start(i)
        cluster.wait(f"{STS}-{i} ready again", lambda i=i: cluster.ready(i), timeout=120)
    p = cluster.wait("5 members: one primary, 4 standbys", lambda: cluster.healthy(range(5)), timeout=240)
    others = [f'"{STS}-{i}"' for i in range(5) if i != p]
    assert cluster.wait("the quorum of 2 of the 4 others", lambda: cluster.out(p, "SHOW synchronous_standby_names")
                        == f"ANY 2 ({', '.join(others)})", timeout=30)
    assert cluster.wait("a slot for every standby, in use", lambda: cluster.out(
        p, "SELECT string_agg(slot_name || ' ' || active, ',' ORDER BY slot_name) FROM pg_replication_slots")
        == ",".join(f"{STS}_{i} true" for i in range(5) if i != p), timeout=60)
    assert cluster.wait("every member has every row", lambda: all(cluster.ids(i) == rows for i in range(5)),
                        timeout=60)
    assert all("(pg_basebackup)" in _log(cluster, i) for i in (3, 4))


def test_scale_down_to_three_switches_over_from_a_removed_primary_and_drops_its_slots(cluster, chart, api):
    old = cluster.healthy(range(5))
    if old != 4:  # make pod 4 the primary: the others but 4 are being deleted while it stops
        marked = [i for i in range(4) if i != old]
        for i in marked:
            api.mark_deleting(cluster.name(i))
        cluster.stop(old)
        for i in marked:
            api.unmark(cluster.name(i))
        cluster.start(old)
        assert cluster.wait("pod 4 the primary", lambda: cluster.healthy(range(5)), timeout=120) == 4
    rows = cluster.ids(4)
    cluster.render(_render(chart, api, 3))
    for i in (3, 4):
        api.mark_deleting(cluster.name(i))
    threads = [threading.Thread(target=cluster.stop, args=(i,)) for i in (3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    new = cluster.wait("a primary among the staying pods", lambda: next(
        (i for i in range(3) if cluster.holder() == cluster.name(i) and cluster.primaries([i])), None), timeout=30)
    assert f"switchover to {STS}-{new}" in _log(cluster, 4)
    for i in (2, 1, 0):  # the rolling update to the 3-member peer list
        cluster.stop(i)
        cluster.start(i)
    p = cluster.wait("3 members healthy", lambda: cluster.healthy(range(3)), timeout=180)
    assert cluster.ids(p) == rows
    assert cluster.wait("the removed members' slots dropped", lambda: cluster.out(
        p, "SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots")
        == ",".join(f"{STS}_{i}" for i in range(3) if i != p), timeout=60)
    assert cluster.out(p, "SHOW synchronous_standby_names").startswith("ANY 1 (")
    print(f"\nscale-down: {STS}-4 handed over to {STS}-{new}; now {STS}-{p} is the primary of 3")


# -- a minor-version change of the image --------------------------------------------------------
PREVIOUS = pin("POSTGRES_PREVIOUS_IMAGE").rsplit(":", 1)[1]   # 17.11: its test image runs that release
CURRENT = pin("POSTGRES_IMAGE").rsplit(":", 1)[1]             # 17.12, the chart's default


def _roll(cluster, objects):
    """A helm upgrade that changes the pods' template: the StatefulSet replaces them from the
    highest ordinal down, each after the one before is ready again (the primary hands over
    when its turn comes). Returns the largest number of members out of recovery at once."""
    with _counting_primaries(cluster, interval=0.2) as most:
        cluster.render(objects)
        for i in (2, 1, 0):
            cluster.stop(i)
            cluster.start(i)
            cluster.wait(f"{STS}-{i} ready again", lambda i=i: cluster.ready(i), timeout=180)
    return most[0]


def _versions(cluster):
    return {i: (cluster.out(i, "SHOW server_version") or "").split()[0] for i in range(3)}


def test_a_minor_version_change_of_the_image_rolls_both_ways_without_losing_a_commit(cluster, chart, api):
    """postgres:17.12 -> 17.11 -> 17.12 (the test images run those releases of trixie's
    postgresql-17): the same data directory under either minor, one member replaced at a time
    under writes; never two primaries, no acknowledged commit lost."""
    primary = _settled(cluster)
    assert set(_versions(cluster).values()) == {CURRENT}
    writer = Writer(cluster, [0, 1, 2], 70_000, seconds=600)
    writer.start()
    for tag in (PREVIOUS, CURRENT):
        time.sleep(3)
        image = {"image": {"tag": tag}} if tag != CURRENT else {}
        handovers = sum(_log(cluster, i).count("handed over to") for i in range(3))
        t0 = time.monotonic()
        most = _roll(cluster, _render(chart, api, 3, **image))
        primary = _settled(cluster, timeout=120)
        print(f"\nroll to postgres:{tag} in {time.monotonic() - t0:.0f}s: {STS}-{primary} the primary, "
              f"{len(writer.acked)} commits acknowledged so far, longest gap {writer.longest_gap():.1f}s")
        assert most == 1, f"{most} members out of recovery at once"
        assert _versions(cluster) == {i: tag for i in range(3)}
        assert sum(_log(cluster, i).count("handed over to") for i in range(3)) > handovers, "no switchover"
    before = set(writer.acked)
    cluster.wait("commits after the rolls", lambda: writer.acked - before, timeout=30)
    writer.stop.set()
    writer.join()
    lost = writer.acked - cluster.ids(primary)
    assert not lost, f"{len(lost)} acknowledged commits lost: {sorted(lost)[:10]}"
    assert cluster.wait("every member has every acknowledged commit",
                        lambda: all(cluster.ids(i) >= writer.acked for i in range(3)), timeout=30)
