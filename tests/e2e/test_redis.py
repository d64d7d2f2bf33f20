"""Redis with Sentinel on a real Kubernetes cluster: install + helm test, acknowledged writes,
master pod deleted (failover timed, no WAIT-acknowledged write lost), master frozen (the label
moves, the thawed one rejoins as a replica, every sentinel agrees), all pods deleted at once,
scale 3 -> 5 -> 3, an upgrade that rolls the pods and keeps the password, uninstall.
The tests run in order on one release. redis-cli runs inside the pods (Kubernetes exec)."""

from __future__ import annotations

import base64
import json
import shlex
import threading
import time

import pytest

from tests.e2e.kube import Kube

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

NAMESPACE = "chartgen-e2e-redis"
PRESET = RELEASE = "redis"
STS = "redis-node"
SELECTOR = "app.kubernetes.io/instance=redis,app.kubernetes.io/component=member"
ROLE_LABEL = "chartgen.io/role"
MASTER_SET = "mymaster"
MASTER_SVC = f"redis-master.{NAMESPACE}.svc.cluster.local"
KEYS = 300  # written before the failover, each acknowledged by a replica (WAIT 1)
FIGURES: dict[str, float] = {}


def fqdn(pod: str) -> str:
    return f"{pod}.redis-headless.{NAMESPACE}.svc.cluster.local"


def pod_of(host: str) -> str:
    return host.split(".", 1)[0]


def pod_names(n: int) -> list[str]:
    return [f"{STS}-{i}" for i in range(n)]


@pytest.fixture(scope="module")
def base_values(cluster):
    # auth is on by default: the upgrade test checks the generated password is kept
    values = {"persistence": {"size": "1Gi"}}
    values.update(cluster.image_values.get("redis", {}))
    return values


# -- redis-cli inside the pods -------------------------------------------------------------------

def sh(kube, pod: str, script: str, timeout: int = 60) -> str:
    return kube.exec(NAMESPACE, pod, "redis", ["sh", "-c", script], timeout=timeout)


def cli_cmd(*args: str, host: str = "127.0.0.1", sentinel: bool = False, as_json: bool = False,
            secs: int = 5) -> str:
    """A redis-cli command line for `sh -c` in a pod; the password comes from the pod's env."""
    port, pw = (26379, "$SENTINEL_PASSWORD") if sentinel else (6379, "$REDIS_PASSWORD")
    h = f'"{host}"' if host.startswith("$") else shlex.quote(host)  # "$var": a shell variable
    return (f'REDISCLI_AUTH="{pw}" timeout {secs} redis-cli --no-auth-warning -h {h} -p {port}'
            + (" --json" if as_json else "") + " " + shlex.join(args))


def cli(kube, pod: str, *args: str, **kw) -> str:
    return sh(kube, pod, cli_cmd(*args, **kw)).strip()


def cli_json(kube, pod: str, *args: str, **kw):
    return json.loads(sh(kube, pod, cli_cmd(*args, as_json=True, **kw)))


def as_dict(reply) -> dict:
    """A Sentinel reply: a RESP3 map (JSON object) or a flat RESP2 list of pairs."""
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2]))


def role(kube, pod: str) -> tuple[str, str | None]:
    """('master', None) or ('slave', <its master's host>), from ROLE on the pod's redis-server."""
    r = cli_json(kube, pod, "ROLE")
    return (r[0], None) if r[0] == "master" else (r[0], r[1])


def master_replicas(kube, pod: str) -> list[str]:
    """Replicas connected to the master POD (ROLE), by announced host."""
    r = cli_json(kube, pod, "ROLE")
    assert r[0] == "master", f"{pod} is {r[0]}"
    return sorted(x[0] for x in r[2])


def sentinel_master(kube, pod: str) -> dict:
    return as_dict(cli_json(kube, pod, "SENTINEL", "MASTER", MASTER_SET, sentinel=True))


def sentinel_named(kube, pod: str) -> str | None:
    r = cli_json(kube, pod, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_SET, sentinel=True)
    return r[0] if r else None


def sentinel_lists(kube, pod: str) -> tuple[list[str], list[str]]:
    """(replicas, other sentinels) that the sentinel of POD knows (SENTINEL REPLICAS / SENTINELS)."""
    reps = [as_dict(x)["name"] for x in cli_json(kube, pod, "SENTINEL", "REPLICAS", MASTER_SET, sentinel=True)]
    sens = [as_dict(x)["name"] for x in cli_json(kube, pod, "SENTINEL", "SENTINELS", MASTER_SET, sentinel=True)]
    return sorted(reps), sorted(sens)


def labels(kube) -> dict[str, str | None]:
    return {p.metadata.name: (p.metadata.labels or {}).get(ROLE_LABEL) for p in kube.pods(NAMESPACE, SELECTOR)}


def e2e_keys(kube, pod: str) -> set[str]:
    out = sh(kube, pod, cli_cmd("--scan", "--pattern", "e2e:*"))
    return {k for k in out.split() if k.startswith("e2e:")}


def single_master(kube, n: int) -> str | None:
    """The master when the cluster is settled: n ready pods, exactly one labelled master and
    exactly one whose ROLE is master, every other pod a replica of it, every sentinel names it."""
    if len(kube.ready_names(NAMESPACE, SELECTOR)) != n:
        return None
    pods = pod_names(n)
    lab = labels(kube)
    labelled = [p for p, r in lab.items() if r == "master"]
    roles = {p: role(kube, p) for p in pods}
    masters = [p for p, (r, _) in roles.items() if r == "master"]
    if len(labelled) != 1 or masters != labelled:
        return None
    m = masters[0]
    if any(roles[p] != ("slave", fqdn(m)) or lab.get(p) != "replica" for p in pods if p != m):
        return None
    if any(sentinel_named(kube, p) != fqdn(m) for p in pods):
        return None
    return m


def settled(kube, n: int, what: str, timeout: float = 180) -> str:
    return kube.wait(f"{what}: {n} ready pods, exactly one master, sentinels agree",
                     lambda: single_master(kube, n), timeout=timeout)


def write_acked(kube, master: str, prefix: str, n: int) -> int:
    """n SETs on MASTER, each followed by WAIT 1 2000; returns how many a replica acknowledged."""
    script = (f"i=0; while [ $i -lt {n} ]; do printf 'SET {prefix}%d v%d\\nWAIT 1 2000\\n' $i $i; i=$((i+1)); done | "
              + cli_cmd())
    lines = sh(kube, master, script, timeout=120).split()
    assert len(lines) == 2 * n, lines[:10]
    return sum(1 for ok, acks in zip(lines[::2], lines[1::2]) if ok == "OK" and acks.isdigit() and int(acks) >= 1)


class Writer(threading.Thread):
    """From inside pod VIA: SET + WAIT 1 through the master Service for SECONDS, one connection
    per write (a client that reconnects). Keeps the keys a replica acknowledged.
    Its own API client: kubernetes' stream() patches the client it uses (not thread-safe)."""

    def __init__(self, kubeconfig, via: str, seconds: int):
        super().__init__(daemon=True)
        self.kube, self.via, self.seconds = Kube(kubeconfig), via, seconds
        self.acked: set[str] = set()
        self.failed = 0
        self.first_failed: int | None = None  # the first write the failover refused
        self.error: Exception | None = None

    def run(self):
        script = (f"end=$(($(date +%s) + {self.seconds})); i=0; while [ $(date +%s) -lt $end ]; do "
                  f"r=$(printf 'SET e2e:fo:%d v\\nWAIT 1 1000\\n' $i | {cli_cmd(host=MASTER_SVC)} 2>&1 | tr '\\n' ' '); "
                  "echo \"$i $r\"; i=$((i+1)); done")
        try:
            out = sh(self.kube, self.via, script, timeout=self.seconds + 60)
        except Exception as err:  # noqa: BLE001 - reported by the test
            self.error = err
            return
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 3 and f[1] == "OK" and f[2].isdigit() and int(f[2]) >= 1:
                self.acked.add(f"e2e:fo:{f[0]}")
            else:
                self.failed += 1
                if self.first_failed is None and f and f[0].isdigit():
                    self.first_failed = int(f[0])

    def acked_after_failure(self) -> int:
        """Acknowledged writes after the first refused one: the Service took writes again."""
        first = self.first_failed if self.first_failed is not None else -1
        return sum(1 for key in self.acked if int(key.rsplit(":", 1)[1]) > first)


# -- the scenarios --------------------------------------------------------------------------------

def test_install_three_pods_and_helm_test(chart, helm, kube, base_values):
    t0 = time.monotonic()
    helm.install_or_upgrade(RELEASE, chart.path, NAMESPACE, base_values, wait=True, timeout="10m")
    master = settled(kube, 3, "install")
    FIGURES["install_to_healthy_s"] = time.monotonic() - t0
    print(f"\nhelm install -> 3 healthy pods, one master ({master}): {FIGURES['install_to_healthy_s']:.1f}s")
    assert master == f"{STS}-0"  # ordinal 0 bootstraps a new cluster
    out = helm.test(RELEASE, NAMESPACE)
    assert f"OK: 1 master ({master}), 2 linked replica(s), 3 sentinel(s) agree" in out
    assert master_replicas(kube, master) == sorted(fqdn(p) for p in pod_names(3) if p != master)
    # auth is on: without the password the server refuses
    assert "NOAUTH" in sh(kube, master, "timeout 5 redis-cli -h 127.0.0.1 SET e2e:noauth x 2>&1")


def test_writes_acknowledged_by_a_replica(kube):
    master = settled(kube, 3, "before writing")
    assert write_acked(kube, master, "e2e:k:", KEYS) == KEYS
    assert len(e2e_keys(kube, master)) == KEYS
    for p in pod_names(3):
        if p != master:
            kube.wait(f"{p} has every key", lambda p=p: len(e2e_keys(kube, p)) == KEYS, timeout=30)


def _probe(kube, via: str, old: str) -> tuple[bool, bool]:
    """(the master the sentinels name is another pod and takes a SET,
        the master Service reaches another pod and it takes a SET)"""
    script = (f"m=$({cli_cmd('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_SET, sentinel=True)} | head -1); "
              f"[ -n \"$m\" ] && [ \"${{m%%.*}}\" != {old} ] && "
              f"[ \"$({cli_cmd('SET', 'e2e:probe', 'x', host='$m')})\" = OK ] && echo SENTINEL-OK; "
              f"printf 'SET e2e:probe x\\nCONFIG GET replica-announce-ip\\n' | {cli_cmd(host=MASTER_SVC)} | tr '\\n' ' '")
    out = sh(kube, via, script, timeout=20)
    f = out.split()
    svc_ok = "OK" in f and any(x.startswith(f"{STS}-") and not x.startswith(f"{old}.") for x in f)
    return "SENTINEL-OK" in f, svc_ok


def test_master_pod_deleted_failover_keeps_acknowledged_writes(cluster, kube):
    old = settled(kube, 3, "before the failover")
    via = next(p for p in pod_names(3) if p != old)
    writer = Writer(cluster.kubeconfig, via, seconds=30)  # outlasts the failover
    writer.start()
    time.sleep(2)  # the writer is writing through the Service to the old master
    t0 = time.monotonic()
    kube.core.delete_namespaced_pod(old, NAMESPACE)  # default grace period: the preStop handover runs
    seen: dict[str, float] = {}
    deadline = t0 + 60
    while len(seen) < 2 and time.monotonic() < deadline:
        try:
            sentinel_ok, svc_ok = _probe(kube, via, old)
        except Exception:  # noqa: BLE001 - exec while pods move
            sentinel_ok = svc_ok = False
        now = time.monotonic() - t0
        if sentinel_ok:
            seen.setdefault("sentinel", now)
        if svc_ok:
            seen.setdefault("service", now)
        time.sleep(0.1)
    assert "sentinel" in seen and "service" in seen, f"no writable new master within 60s ({seen})"
    FIGURES["failover_graceful_to_writable_s"] = seen["sentinel"]
    FIGURES["failover_graceful_to_writable_via_service_s"] = seen["service"]
    print(f"\nmaster {old} deleted (grace period, preStop handover) -> writable new master after "
          f"{seen['sentinel']:.1f}s, through the master Service after {seen['service']:.1f}s")
    assert seen["sentinel"] < 20
    writer.join()
    assert writer.error is None, writer.error
    new = settled(kube, 3, "after the failover")
    assert new != old
    have = e2e_keys(kube, new)
    print(f"writer through the Service: {len(writer.acked)} acknowledged writes, {writer.failed} refused/unacknowledged")
    # writes went through the Service before the failover and again after it (counts, not a
    # rate: a loaded node runs the writer's redis-cli slowly)
    assert writer.first_failed is None or writer.first_failed > 0, "no write went through before the failover"
    assert writer.acked_after_failure() > 0, "the master Service took no write after the failover"
    assert {f"e2e:k:{i}" for i in range(KEYS)} <= have
    lost = writer.acked - have
    assert not lost, f"{len(lost)} WAIT-acknowledged writes lost in the failover: {sorted(lost)[:10]}"
    # the old master came back as a replica of the new one
    assert role(kube, old) == ("slave", fqdn(new))
    assert labels(kube)[old] == "replica"
    kube.wait(f"{old} has every acknowledged key", lambda: writer.acked <= e2e_keys(kube, old), timeout=30)


def test_master_frozen_label_moves_and_the_thawed_one_rejoins_as_replica(cluster, kube):
    """The master's cgroup frozen (its agent and sentinel too) for 20 s: the others elect a
    replica, whose agent takes the master label from the frozen pod, so the master Service
    follows; once thawed, the old master is a replica, every sentinel names the new master
    (the agent heals a sentinel left naming its own pod) and no acknowledged write is lost."""
    if cluster.kind == "existing":
        pytest.skip("freezing a pod's cgroup needs the node's cgroups on this machine (--cluster=local or kind)")
    old = settled(kube, 3, "before the freeze")
    via = next(p for p in pod_names(3) if p != old)
    writer = Writer(cluster.kubeconfig, via, seconds=40)  # outlasts the freeze
    writer.start()
    time.sleep(2)
    t0 = time.monotonic()
    kube.freeze(NAMESPACE, old, True)
    try:
        def moved():
            lab = labels(kube)
            return next((p for p, r in lab.items() if r == "master" and p != old and lab[old] != "master"), None)
        new = kube.wait("another pod labelled master, the frozen one no longer", moved, timeout=60, interval=0.5)
        FIGURES["frozen_master_label_moved_s"] = time.monotonic() - t0
        kube.wait("the master Service takes a write on another pod", lambda: _probe(kube, via, old)[1], timeout=60)
        FIGURES["frozen_master_to_writable_via_service_s"] = time.monotonic() - t0
        time.sleep(max(0.0, 20 - (time.monotonic() - t0)))
    finally:
        kube.freeze(NAMESPACE, old, False)
    print(f"\nmaster {old} frozen -> {new} labelled master after {FIGURES['frozen_master_label_moved_s']:.1f}s, "
          f"a write through the master Service after {FIGURES['frozen_master_to_writable_via_service_s']:.1f}s")
    writer.join()
    assert writer.error is None, writer.error
    after = settled(kube, 3, "after the thaw: every sentinel names one master", timeout=180)
    assert after == new, f"the master moved again after the thaw: {new} -> {after}"
    assert writer.acked_after_failure() > 0, "the master Service took no write after the failover"
    have = e2e_keys(kube, new)
    lost = writer.acked - have
    assert not lost, f"{len(lost)} WAIT-acknowledged writes lost around the freeze: {sorted(lost)[:10]}"
    kube.wait(f"{old} has every acknowledged key", lambda: writer.acked <= e2e_keys(kube, old), timeout=30)


def test_all_pods_deleted_at_once_one_master_keys_intact(kube):
    keys = e2e_keys(kube, settled(kube, 3, "before deleting all pods"))
    t0 = time.monotonic()
    for p in pod_names(3):
        kube.core.delete_namespaced_pod(p, NAMESPACE, grace_period_seconds=0)
    time.sleep(2)
    master = settled(kube, 3, "after deleting all pods", timeout=300)
    FIGURES["all_pods_deleted_to_healthy_s"] = time.monotonic() - t0
    print(f"\nall pods force-deleted -> 3 healthy, one master ({master}): {FIGURES['all_pods_deleted_to_healthy_s']:.1f}s")
    assert e2e_keys(kube, master) == keys
    assert cli(kube, master, "SET", "e2e:after-restart", "x") == "OK"


def _sentinels_agree(kube, n: int) -> bool:
    """Every sentinel knows exactly the n-1 other pods as replicas and n-1 other sentinels."""
    m = single_master(kube, n)
    if not m:
        return False
    want = sorted(fqdn(p) for p in pod_names(n) if p != m)
    for p in pod_names(n):
        reps, sens = sentinel_lists(kube, p)
        if [r.split(":")[0] for r in reps] != want or len(sens) != n - 1:
            return False
    return master_replicas(kube, m) == want


def test_scale_to_five_then_back_to_three(chart, helm, kube, base_values):
    t0 = time.monotonic()
    helm.install_or_upgrade(RELEASE, chart.path, NAMESPACE, {**base_values, "replicaCount": 5}, wait=True)
    kube.wait("5 pods: one master, 4 linked replicas, 5 sentinels that know each other",
              lambda: _sentinels_agree(kube, 5), timeout=300)
    print(f"\nscale 3 -> 5: {time.monotonic() - t0:.1f}s")
    out = helm.test(RELEASE, NAMESPACE)
    assert "4 linked replica(s), 5 sentinel(s) agree" in out
    m = single_master(kube, 5)
    assert int(sentinel_master(kube, m)["quorum"]) == 3

    t0 = time.monotonic()
    helm.install_or_upgrade(RELEASE, chart.path, NAMESPACE, {**base_values, "replicaCount": 3}, wait=True)
    kube.wait("3 pods", lambda: sorted(p.metadata.name for p in kube.pods(NAMESPACE, SELECTOR)) == pod_names(3),
              timeout=300)
    m = settled(kube, 3, "after scaling down")
    print(f"scale 5 -> 3: {time.monotonic() - t0:.1f}s")
    # the sentinels forget the departed pods (a sentinel never forgets a replica or a sentinel
    # by itself: stale entries count as voters and stay in clients' replica lists); the agents
    # reset a sentinel that knows departed pods after 10 s + 5 s per ordinal
    stale = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        stale = {p: sentinel_lists(kube, p) for p in pod_names(3)}
        if _sentinels_agree(kube, 3):
            break
        time.sleep(2)
    assert _sentinels_agree(kube, 3), f"sentinels still know departed pods (replicas, sentinels): {stale}"
    resets = [line for p in pod_names(3) for line in kube.core.read_namespaced_pod_log(
        p, NAMESPACE, container="agent").splitlines() if "sentinel reset" in line]
    print(f"sentinels agree on 3 after {time.monotonic() - t0:.1f}s; agent resets: {resets or 'none needed'}")
    assert int(sentinel_master(kube, m)["quorum"]) == 2
    assert "2 linked replica(s), 3 sentinel(s) agree" in helm.test(RELEASE, NAMESPACE)
    assert {f"e2e:k:{i}" for i in range(KEYS)} <= e2e_keys(kube, m)


def _password(kube) -> str:
    return base64.b64decode(kube.core.read_namespaced_secret("redis-auth", NAMESPACE).data["redis-password"]).decode()


def test_upgrade_rolls_the_pods_and_keeps_the_password(chart, helm, kube, base_values):
    before = _password(kube)
    assert len(before) >= 16
    keys = e2e_keys(kube, settled(kube, 3, "before the upgrade"))
    uids = {p.metadata.name: p.metadata.uid for p in kube.pods(NAMESPACE, SELECTOR)}
    values = {**base_values, "replicaCount": 3, "redis": {"maxmemory": "200mb"}}
    helm.install_or_upgrade(RELEASE, chart.path, NAMESPACE, values, wait=True)
    kube.wait("every pod replaced", lambda: all(
        p.metadata.uid != uids.get(p.metadata.name) for p in kube.pods(NAMESPACE, SELECTOR)), timeout=300)
    m = settled(kube, 3, "after the upgrade")
    assert _password(kube) == before
    for p in pod_names(3):
        assert cli(kube, p, "CONFIG", "GET", "maxmemory").split() == ["maxmemory", str(200 * 1024 * 1024)]
    # the pods use the kept password (the env comes from the Secret; check it is the same value)
    assert sh(kube, m, 'printf %s "$REDIS_PASSWORD"') == before
    assert e2e_keys(kube, m) == keys
    assert "OK: 1 master" in helm.test(RELEASE, NAMESPACE)


def test_uninstall_leaves_no_pods_and_keeps_secret_and_pvcs(helm, kube):
    helm.uninstall(RELEASE, NAMESPACE, wait=True)
    kube.wait("no pods", lambda: not kube.pods(NAMESPACE, f"app.kubernetes.io/instance={RELEASE}"), timeout=180)
    pvcs = sorted(p.metadata.name for p in kube.core.list_namespaced_persistent_volume_claim(NAMESPACE).items)
    assert pvcs == [f"data-{p}" for p in pod_names(5)]  # Retain on delete and on scale-down
    assert _password(kube)  # helm.sh/resource-policy: keep
    print(f"\nfigures: {json.dumps({k: round(v, 2) for k, v in FIGURES.items()})}")
