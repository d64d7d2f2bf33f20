"""The mysql chart on a real Kubernetes cluster, per flavor: install + helm test, the primary pod
deleted (a switchover: no acknowledged write lost), the primary frozen (a failover through the
Lease; the thawed old primary takes no write), all pods deleted at once, scale 3 -> 5 -> 3, a
rolling upgrade under writes, uninstall. The tests run in order on one release per flavor.

Flavors: `mariadb` runs everywhere (on the local cluster with a MariaDB test image built from
Debian's packages and pruned to the official image's tools); `mysql` needs the official MySQL
8.4 image, so it runs on --cluster=kind or --cluster=existing and is skipped on the local cluster.
SQL runs inside the pods (Kubernetes exec) with the server's own client."""

from __future__ import annotations

import base64
import json
import shlex
import threading
import time

import pytest

import chartgen
from tests.e2e.kube import Kube

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

PRESET = RELEASE = "mysql"
NAMESPACE = "chartgen-e2e-mysql-mariadb"  # per flavor (the fixture below); read by the failure report
SELECTOR = "app.kubernetes.io/instance=mysql,app.kubernetes.io/component=member"
ROLE_LABEL = "chartgen.io/role"
LEASE = "mysql-leader"
CLIENTS = {"mariadb": "mariadb", "mysql": "mysql"}
FIGURES: dict[str, float] = {}
ROWS = 200


class Ctx:
    """The flavor under test and where it runs."""

    def __init__(self, flavor: str, namespace: str):
        self.flavor, self.ns = flavor, namespace
        self.client = CLIENTS[flavor]
        self.primary_svc = f"mysql-primary.{namespace}.svc.cluster.local"

    def pods(self, n: int) -> list[str]:
        return [f"mysql-{i}" for i in range(n)]


@pytest.fixture(scope="module", params=["mariadb", "mysql"])
def ctx(request, cluster, kube):
    flavor = request.param
    if flavor == "mysql" and not cluster.can_pull:
        pytest.skip("Oracle MySQL cannot run on this machine (no Debian package, no registry to pull the official "
                    "mysql:8.4 image from): run the mysql flavor with --cluster=existing, or --cluster=kind with "
                    "KIND_NODE_IMAGE set, where the official image can be pulled")
    ns = f"chartgen-e2e-mysql-{flavor}"
    global NAMESPACE
    NAMESPACE = ns
    kube.delete_namespace(ns)
    yield Ctx(flavor, ns)
    kube.delete_namespace(ns)  # its bare client pod would stop a later drain


@pytest.fixture(scope="module")
def mychart(ctx, tmp_path_factory):
    return chartgen.generate(PRESET, PRESET, flavor=ctx.flavor, output=tmp_path_factory.mktemp("e2e") / ctx.flavor)


@pytest.fixture(scope="module")
def base_values(cluster, ctx):
    values = {"persistence": {"size": "1Gi"}}
    values.update(cluster.image_values.get(f"mysql-{ctx.flavor}", {}))
    return values


# -- SQL inside the pods ---------------------------------------------------------------------------

def sh(kube: Kube, ctx: Ctx, pod: str, script: str, timeout: int = 60, container: str = "mysql") -> str:
    return kube.exec(ctx.ns, pod, container, ["sh", "-c", script], timeout=timeout)


CLIENT_POD = "e2e-client"


def sql_cmd(ctx: Ctx, query: str, host: str | None = None, secs: int = 10, cnf: str = "/run/mysqld/root.cnf") -> str:
    """The server's client with an option file (root; the password never on a command line): a
    member's own, or the client pod's (cnf=/tmp/root.cnf)."""
    target = f" -h {shlex.quote(host)} --connect-timeout=3" if host else ""
    return (f"timeout {secs} {ctx.client} --defaults-extra-file={cnf}{target} -N -B "
            f"-e {shlex.quote(query)}")


def client_pod(kube: Kube, ctx: Ctx, image: str) -> None:
    """A pod of the server's image outside the release: the clients of the tests (writers keep
    writing while members roll)."""
    from kubernetes import client

    script = ("umask 077; printf '[client]\\nuser=root\\npassword=\"%s\"\\n' \"$ROOT_PASSWORD\" >/tmp/root.cnf; "
              "exec sleep 100000")
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": CLIENT_POD, "labels": {"mysql-client": "true"}},
            "spec": {"securityContext": {"runAsUser": 999, "runAsGroup": 999, "runAsNonRoot": True},
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "mysql", "image": image, "imagePullPolicy": "IfNotPresent",
                                     "command": ["sh", "-c", script],
                                     "env": [{"name": "ROOT_PASSWORD", "valueFrom": {"secretKeyRef": {
                                         "name": "mysql-auth", "key": "root-password"}}}]}]}}
    try:
        kube.core.create_namespaced_pod(ctx.ns, body)
    except client.exceptions.ApiException as err:
        if err.status != 409:
            raise
    kube.wait("the client pod", lambda: CLIENT_POD in kube.ready_names(ctx.ns, "mysql-client=true"), timeout=120)


def sql(kube: Kube, ctx: Ctx, pod: str, query: str, host: str | None = None) -> str:
    return sh(kube, ctx, pod, sql_cmd(ctx, query, host) + " 2>&1").strip()


def writable(kube: Kube, ctx: Ctx, pod: str) -> bool | None:
    ro = sql(kube, ctx, pod, "SELECT @@read_only")
    return {"0": True, "1": False}.get(ro)


def labels(kube: Kube, ctx: Ctx) -> dict[str, str | None]:
    return {p.metadata.name: (p.metadata.labels or {}).get(ROLE_LABEL) for p in kube.pods(ctx.ns, SELECTOR)}


def holder(kube: Kube, ctx: Ctx) -> str | None:
    from kubernetes import client

    lease = client.CoordinationV1Api(kube.api_client).read_namespaced_lease(LEASE, ctx.ns)
    return lease.spec.holder_identity


def primary_of(kube: Kube, ctx: Ctx, n: int) -> str | None:
    """The primary when the cluster is settled: n ready pods, exactly one labelled primary that
    holds the Lease and takes writes, every other one read-only and labelled replica."""
    if len(kube.ready_names(ctx.ns, SELECTOR)) != n:
        return None
    lab = labels(kube, ctx)
    prim = [p for p, r in lab.items() if r == "primary"]
    if len(prim) != 1 or holder(kube, ctx) != prim[0]:
        return None
    p = prim[0]
    if not writable(kube, ctx, p):
        return None
    for other in ctx.pods(n):
        if other != p and (lab.get(other) != "replica" or writable(kube, ctx, other) is not False):
            return None
    return p


def settled(kube: Kube, ctx: Ctx, n: int, what: str, timeout: float = 300) -> str:
    return kube.wait(f"{what}: {n} ready pods, one primary holding the Lease", lambda: primary_of(kube, ctx, n),
                     timeout=timeout, interval=2)


def ids(kube: Kube, ctx: Ctx, pod: str) -> set[int]:
    out = sql(kube, ctx, pod, "SELECT id FROM e2e.acked")
    return {int(x) for x in out.split() if x.isdigit()}


class Writer(threading.Thread):
    """From inside pod VIA: INSERTs through the primary Service for SECONDS, one connection per
    statement (a client that reconnects), each bounded by 10 s; keeps the ids whose commit
    returned OK (under lossless semi-sync: acknowledged by a replica).
    Its own API client: kubernetes' stream() patches the client it uses (not thread-safe)."""

    def __init__(self, kubeconfig, ctx: Ctx, first: int, seconds: int):
        super().__init__(daemon=True)
        self.kube, self.ctx, self.via, self.first, self.seconds = Kube(kubeconfig), ctx, CLIENT_POD, first, seconds
        self.acked: set[int] = set()
        self.failed = 0
        self.error: Exception | None = None

    def run(self):
        insert = sql_cmd(self.ctx, "INSERT INTO e2e.acked (id) VALUES ($i)", self.ctx.primary_svc, cnf="/tmp/root.cnf").replace(
            "'INSERT INTO e2e.acked (id) VALUES ($i)'", '"INSERT INTO e2e.acked (id) VALUES ($i)"')
        script = (f"rm -f /tmp/stop.{self.first}; end=$(($(date +%s) + {self.seconds})); i={self.first}; "
                  f"while [ $(date +%s) -lt $end ] && [ ! -f /tmp/stop.{self.first} ]; do "
                  f"if {insert} >/dev/null 2>&1; then echo \"ok $i\"; else echo \"no $i\"; fi; i=$((i+1)); done")
        try:
            out = sh(self.kube, self.ctx, self.via, script, timeout=self.seconds + 60)
        except Exception as err:  # noqa: BLE001 - reported by the test
            self.error = err
            return
        for line in out.splitlines():
            f = line.split()
            if len(f) == 2 and f[0] == "ok":
                self.acked.add(int(f[1]))
            else:
                self.failed += 1

    def finish(self, kube: Kube) -> None:
        sh(kube, self.ctx, self.via, f"touch /tmp/stop.{self.first}")
        self.join(timeout=120)


def first_write_elsewhere(kube: Kube, ctx: Ctx, old: str, t0: float, limit: float = 60) -> float:
    """Seconds from T0 until a write through the primary Service lands on a pod other than OLD."""
    probe = sql_cmd(ctx, "INSERT INTO e2e.probe (at) VALUES (NOW(6)); SELECT @@report_host", ctx.primary_svc, secs=3,
                    cnf="/tmp/root.cnf")
    while time.monotonic() - t0 < limit:
        try:
            out = sh(kube, ctx, CLIENT_POD, probe + " 2>/dev/null", timeout=20).strip()
        except Exception:  # noqa: BLE001 - exec while pods move
            out = ""
        if out and out.split(".")[0] != old and out.startswith("mysql-"):
            return time.monotonic() - t0
        time.sleep(0.1)
    raise TimeoutError(f"no write through {ctx.primary_svc} on a pod other than {old} within {limit}s")


# -- the scenarios ---------------------------------------------------------------------------------

def test_install_helm_test_and_acknowledged_writes(ctx, mychart, helm, kube, base_values):
    t0 = time.monotonic()
    helm.install_or_upgrade(RELEASE, mychart.path, ctx.ns, base_values, wait=True, timeout="10m")
    p = settled(kube, ctx, 3, "install")
    FIGURES[f"{ctx.flavor}_install_to_healthy_s"] = time.monotonic() - t0
    print(f"\n[{ctx.flavor}] helm install -> 3 healthy pods, primary {p}: {time.monotonic() - t0:.1f}s")
    assert p == "mysql-0"  # only ordinal 0 creates a new cluster
    out = helm.test(RELEASE, ctx.ns)
    assert "OK: 1 writable member (mysql-0)" in out and "GTID sets agree" in out
    client_pod(kube, ctx, kube.core.read_namespaced_pod(p, ctx.ns).spec.containers[0].image)
    assert sql(kube, ctx, p, "CREATE DATABASE e2e; CREATE TABLE e2e.acked (id INT PRIMARY KEY); "
                             "CREATE TABLE e2e.probe (n INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6))") == ""
    values = ",".join(f"({i})" for i in range(ROWS))
    assert sql(kube, ctx, p, f"INSERT INTO e2e.acked (id) VALUES {values}") == ""
    for r in ("mysql-1", "mysql-2"):
        kube.wait(f"{r} has the rows", lambda r=r: len(ids(kube, ctx, r)) == ROWS, timeout=60)
        assert "read-only" in sql(kube, ctx, r, "INSERT INTO e2e.acked (id) VALUES (-1)", host="127.0.0.1").lower() or \
            "read_only" in sql(kube, ctx, r, "INSERT INTO e2e.acked (id) VALUES (-1)", host="127.0.0.1").lower()


def test_primary_pod_deleted_hands_over_without_losing_a_write(ctx, cluster, kube):
    old = settled(kube, ctx, 3, "before the switchover")
    writer = Writer(cluster.kubeconfig, ctx, 10_000, seconds=25)
    writer.start()
    time.sleep(3)
    t0 = time.monotonic()
    kube.core.delete_namespaced_pod(old, ctx.ns)  # the grace period: the preStop switchover runs
    seconds = first_write_elsewhere(kube, ctx, old, t0)
    FIGURES[f"{ctx.flavor}_switchover_to_writable_via_service_s"] = seconds
    print(f"\n[{ctx.flavor}] primary {old} deleted -> a write through the primary Service on another pod after {seconds:.1f}s")
    writer.join()
    assert writer.error is None, writer.error
    new = settled(kube, ctx, 3, "after the switchover")
    assert new != old
    have = ids(kube, ctx, new)
    print(f"writer: {len(writer.acked)} acknowledged, {writer.failed} refused or unacknowledged")
    assert len(writer.acked) > 20
    assert set(range(ROWS)) <= have
    lost = writer.acked - have
    assert not lost, f"{len(lost)} acknowledged writes lost: {sorted(lost)[:10]}"
    assert seconds < 15
    kube.wait(f"{old} has every write", lambda: writer.acked <= ids(kube, ctx, old), timeout=60)


def test_primary_frozen_a_replica_takes_over_and_the_thawed_one_takes_no_write(ctx, cluster, kube):
    if cluster.kind == "existing":
        pytest.skip("freezing a pod's cgroup needs the node's cgroups on this machine (--cluster=local or kind)")
    old = settled(kube, ctx, 3, "before the freeze")
    writer = Writer(cluster.kubeconfig, ctx, 20_000, seconds=30)
    writer.start()
    time.sleep(3)
    t0 = time.monotonic()
    kube.freeze(ctx.ns, old, True)
    try:
        seconds = first_write_elsewhere(kube, ctx, old, t0)
    finally:
        time.sleep(2)
        kube.freeze(ctx.ns, old, False)
    FIGURES[f"{ctx.flavor}_frozen_to_writable_via_service_s"] = seconds
    print(f"\n[{ctx.flavor}] primary {old} frozen -> a write through the primary Service on another pod after {seconds:.1f}s")
    writer.join()
    new = settled(kube, ctx, 3, "after the thaw")
    assert new != old
    have = ids(kube, ctx, new)
    lost = writer.acked - have
    assert not lost, f"{len(lost)} acknowledged writes lost: {sorted(lost)[:10]}"
    assert seconds < 25
    kube.wait(f"{old} agrees with the primary", lambda: ids(kube, ctx, old) == ids(kube, ctx, new), timeout=120)
    log = kube.core.read_namespaced_pod_log(old, ctx.ns, container="agent")
    print("old primary: " + ("re-cloned" if "re-cloning this member" in log else "rejoined without a clone"))


def test_all_pods_deleted_at_once_one_primary_data_intact(ctx, kube):
    before = ids(kube, ctx, settled(kube, ctx, 3, "before deleting all pods"))
    t0 = time.monotonic()
    for p in ctx.pods(3):
        kube.core.delete_namespaced_pod(p, ctx.ns, grace_period_seconds=0)
    time.sleep(3)
    p = settled(kube, ctx, 3, "after deleting all pods", timeout=400)
    FIGURES[f"{ctx.flavor}_all_pods_deleted_to_healthy_s"] = time.monotonic() - t0
    print(f"\n[{ctx.flavor}] all pods force-deleted -> healthy, primary {p}: {time.monotonic() - t0:.1f}s")
    assert ids(kube, ctx, p) == before


def test_scale_to_five_then_back_to_three(ctx, mychart, helm, kube, base_values):
    t0 = time.monotonic()
    helm.install_or_upgrade(RELEASE, mychart.path, ctx.ns, {**base_values, "replicaCount": 5}, wait=True)
    p = settled(kube, ctx, 5, "scaled to 5")
    print(f"\n[{ctx.flavor}] scale 3 -> 5: {time.monotonic() - t0:.1f}s")
    assert "the write reads back on 5 member(s)" in helm.test(RELEASE, ctx.ns)
    for new in ("mysql-3", "mysql-4"):
        assert ids(kube, ctx, new) == ids(kube, ctx, p)
        assert "seeding from mysql-" in kube.core.read_namespaced_pod_log(new, ctx.ns, container="mysql")
    t0 = time.monotonic()
    helm.install_or_upgrade(RELEASE, mychart.path, ctx.ns, {**base_values, "replicaCount": 3}, wait=True)
    kube.wait("3 pods", lambda: sorted(x.metadata.name for x in kube.pods(ctx.ns, SELECTOR)) == ctx.pods(3), timeout=300)
    p = settled(kube, ctx, 3, "scaled back to 3")
    print(f"[{ctx.flavor}] scale 5 -> 3: {time.monotonic() - t0:.1f}s")
    assert "the write reads back on 3 member(s)" in helm.test(RELEASE, ctx.ns)
    assert set(range(ROWS)) <= ids(kube, ctx, p)


def _password(kube: Kube, ctx: Ctx) -> str:
    return base64.b64decode(kube.core.read_namespaced_secret("mysql-auth", ctx.ns).data["root-password"]).decode()


def test_rolling_upgrade_loses_no_write_and_keeps_the_passwords(ctx, mychart, cluster, helm, kube, base_values):
    before = _password(kube, ctx)
    p = settled(kube, ctx, 3, "before the upgrade")
    uids = {x.metadata.name: x.metadata.uid for x in kube.pods(ctx.ns, SELECTOR)}
    writer = Writer(cluster.kubeconfig, ctx, 30_000, seconds=400)
    writer.start()
    time.sleep(3)
    values = {**base_values, "config": {"maxConnections": 600}}
    t0 = time.monotonic()
    helm.install_or_upgrade(RELEASE, mychart.path, ctx.ns, values, wait=True)
    kube.wait("every pod replaced", lambda: all(x.metadata.uid != uids.get(x.metadata.name)
                                                for x in kube.pods(ctx.ns, SELECTOR)), timeout=400)
    p = settled(kube, ctx, 3, "after the upgrade")
    print(f"\n[{ctx.flavor}] rolling upgrade: {time.monotonic() - t0:.1f}s")
    writer.finish(kube)
    have = ids(kube, ctx, p)
    print(f"writer: {len(writer.acked)} acknowledged, {writer.failed} refused or unacknowledged")
    assert writer.acked, "the writer wrote nothing"
    lost = writer.acked - have
    assert not lost, f"{len(lost)} acknowledged writes lost in the rolling upgrade: {sorted(lost)[:10]}"
    assert _password(kube, ctx) == before
    assert all(sql(kube, ctx, x, "SELECT @@max_connections") == "600" for x in ctx.pods(3))
    assert "OK: 1 writable member" in helm.test(RELEASE, ctx.ns)


def test_uninstall_keeps_the_data_the_secret_and_the_lease(ctx, helm, kube):
    helm.uninstall(RELEASE, ctx.ns, wait=True)
    kube.wait("no pods", lambda: not kube.pods(ctx.ns, f"app.kubernetes.io/instance={RELEASE}"), timeout=180)
    pvcs = sorted(p.metadata.name for p in kube.core.list_namespaced_persistent_volume_claim(ctx.ns).items)
    assert pvcs == [f"data-mysql-{i}" for i in range(5)]
    assert _password(kube, ctx)
    assert holder(kube, ctx)  # the Lease records that this cluster exists
    print(f"\nfigures: {json.dumps({k: round(v, 2) for k, v in FIGURES.items()})}")
