"""MongoDB on a real Kubernetes cluster with the official image: install + helm test,
majority-acknowledged writes, the primary's pod deleted (a new primary, no acknowledged write
lost), pod 0's volume and pod deleted (it resyncs into the same replica set, never a second
one), all pods deleted at once, scale 3 -> 5 -> 3 (members added and removed), a rolling upgrade
under writes, uninstall. The tests run in order on one release; mongosh runs inside the pods
(Kubernetes exec), the password only ever in their environment.

Skipped on --cluster=local (no MongoDB there) and wherever the official image cannot be pulled."""

from __future__ import annotations

import base64
import json
import shlex
import threading
import time

import pytest

from chartgen.versions import pin
from tests.e2e.kube import Kube

LOCAL_SKIP = ("MongoDB cannot run on the local cluster: it runs only images built here from Debian packages, "
              "Debian has no MongoDB, and no MongoDB binary or image can be fetched on this machine; run "
              "--cluster=kind or --cluster=existing where the official mongo image can be pulled")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200),
              pytest.mark.skipif("config.getoption('--cluster') == 'local'", reason=LOCAL_SKIP)]

NAMESPACE = "chartgen-e2e-mongodb"
PRESET = RELEASE = "mongodb"
STS = "mongodb"
SELECTOR = "app.kubernetes.io/instance=mongodb,app.kubernetes.io/component=member"
ROLE_LABEL = "chartgen.io/role"
RECORD = "mongodb-replset"
IMAGE = pin("MONGO_IMAGE")
FIGURES: dict[str, float] = {}


def fqdn(pod: str) -> str:
    return f"{pod}.{STS}-headless.{NAMESPACE}.svc.cluster.local"


def pod_names(n: int) -> list[str]:
    return [f"{STS}-{i}" for i in range(n)]


def hosts(n: int) -> list[str]:
    return [f"{fqdn(p)}:27017" for p in pod_names(n)]


@pytest.fixture(scope="module", autouse=True)
def official_image(cluster, kube, fresh_namespace):
    """Skip, saying so, where the cluster cannot pull the official mongo image."""
    from kubernetes import client

    try:
        kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    except client.exceptions.ApiException as err:
        if err.status != 409:
            raise
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="mongo-image-check"),
        spec=client.V1PodSpec(restart_policy="Never", containers=[client.V1Container(
            name="check", image=IMAGE, command=["mongod", "--version"],
            security_context=client.V1SecurityContext(run_as_user=999, run_as_non_root=True,
                                                      allow_privilege_escalation=False))]))
    kube.core.create_namespaced_pod(NAMESPACE, pod)
    deadline = time.monotonic() + 600  # the image is about 900 MB
    reason = None
    try:
        while time.monotonic() < deadline:
            p = kube.core.read_namespaced_pod("mongo-image-check", NAMESPACE)
            if p.status.phase == "Succeeded":
                return
            for s in p.status.container_statuses or []:
                waiting = s.state.waiting
                if waiting and waiting.reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
                    reason = f"{waiting.reason}: {waiting.message}"
            if reason and "BackOff" in reason:
                break
            time.sleep(2)
        pytest.skip(f"the official image {IMAGE} cannot be pulled on this cluster ({reason or 'not within 600 s'})")
    finally:
        kube.core.delete_namespaced_pod("mongo-image-check", NAMESPACE, grace_period_seconds=0)


@pytest.fixture(scope="module")
def base_values(cluster):
    return {"persistence": {"size": "1Gi"},
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}}


# -- mongosh inside the pods ------------------------------------------------------------------------
PRELUDE = """
const PW = process.env.MONGODB_ROOT_PASSWORD, USER = process.env.ROOT_USER;
function direct(host) {
  const c = new Mongo(`mongodb://${host}/?directConnection=true&readPreference=primaryPreferred&serverSelectionTimeoutMS=5000`);
  c.getDB('admin').auth(USER, PW);
  return c;
}
function set(hosts) {
  return new Mongo(`mongodb://${USER}:${encodeURIComponent(PW)}@${hosts}/?replicaSet=rs0&authSource=admin&serverSelectionTimeoutMS=15000`);
}
"""


CLIENT = "mongo-client"


def client_pod(kube) -> str:
    """A client pod of the official image beside the release (the root password in its
    environment, from the chart's Secret), for writers that must outlive any member's pod."""
    from kubernetes import client

    try:
        kube.core.read_namespaced_pod(CLIENT, NAMESPACE)
    except client.exceptions.ApiException as err:
        if err.status != 404:
            raise
        env = [client.V1EnvVar(name="HOME", value="/tmp"), client.V1EnvVar(name="ROOT_USER", value="root"),
               client.V1EnvVar(name="MONGODB_ROOT_PASSWORD", value_from=client.V1EnvVarSource(
                   secret_key_ref=client.V1SecretKeySelector(name=f"{STS}-auth", key="mongodb-root-password")))]
        kube.core.create_namespaced_pod(NAMESPACE, client.V1Pod(
            metadata=client.V1ObjectMeta(name=CLIENT, labels={"mongodb-client": "true"}),
            spec=client.V1PodSpec(termination_grace_period_seconds=1, containers=[client.V1Container(
                name="client", image=IMAGE, command=["sleep", "infinity"], env=env,
                security_context=client.V1SecurityContext(run_as_user=999, run_as_non_root=True,
                                                          allow_privilege_escalation=False))])))
    kube.wait("the client pod running", lambda: kube.core.read_namespaced_pod(CLIENT, NAMESPACE).status.phase
              == "Running", timeout=300)
    return CLIENT


def mongosh(kube, pod: str, js: str, timeout: int = 90) -> str:
    """JS run by mongosh in POD's agent container, or in the client pod (the root password is in
    their environment, never on a command line)."""
    script = "HOME=/tmp mongosh --nodb --quiet --norc --eval " + shlex.quote(PRELUDE + js)
    return kube.exec(NAMESPACE, pod, "client" if pod == CLIENT else "agent", ["sh", "-c", script], timeout=timeout)


def view(kube, pod: str) -> dict:
    """What POD's mongod says: its state, and its configuration's id and members."""
    out = mongosh(kube, pod, """
const c = direct('127.0.0.1:27017').getDB('admin');
const h = c.runCommand({hello: 1});
const conf = c.runCommand({replSetGetConfig: 1}).config;
print(JSON.stringify({primary: !!h.isWritablePrimary, secondary: !!h.secondary, setName: h.setName,
  id: conf.settings.replicaSetId.toHexString(), version: conf.version,
  members: conf.members.map((m) => ({host: m.host, votes: m.votes, priority: m.priority}))}));
""")
    return json.loads(out.strip().splitlines()[-1])


def record_id(kube) -> str | None:
    return (kube.core.read_namespaced_config_map(RECORD, NAMESPACE).data or {}).get("replicaSetId")


def labels(kube) -> dict[str, str | None]:
    return {p.metadata.name: (p.metadata.labels or {}).get(ROLE_LABEL) for p in kube.pods(NAMESPACE, SELECTOR)}


def single_primary(kube, n: int) -> str | None:
    """The primary when the set is settled: n ready pods, one PRIMARY (labelled so), n-1 SECONDARY,
    every configuration naming exactly the n pods' FQDNs with n voters, one replica set id on
    every member and on the durable record."""
    if kube.ready_names(NAMESPACE, SELECTOR) != pod_names(n):
        return None
    views = {p: view(kube, p) for p in pod_names(n)}
    primaries = [p for p, v in views.items() if v["primary"]]
    if len(primaries) != 1 or sum(v["secondary"] for v in views.values()) != n - 1:
        return None
    lab = labels(kube)
    if lab.get(primaries[0]) != "primary" or any(lab.get(p) != "secondary" for p in pod_names(n) if p != primaries[0]):
        return None
    ids = {v["id"] for v in views.values()}
    if len(ids) != 1 or record_id(kube) not in ids:
        return None
    for v in views.values():
        if sorted(m["host"] for m in v["members"]) != sorted(hosts(n)) or sum(m["votes"] for m in v["members"]) != n:
            return None
    return primaries[0]


def settled(kube, n: int, what: str, timeout: float = 300) -> str:
    return kube.wait(f"{what}: {n} ready members, one primary, members by FQDN, one replica set id",
                     lambda: single_primary(kube, n), timeout=timeout, interval=3)


def the_id(kube) -> str:
    return view(kube, f"{STS}-0")["id"]


def insert(kube, via: str, prefix: str, count: int) -> int:
    """COUNT documents through the replica set, each acknowledged by a majority; how many were."""
    out = mongosh(kube, via, f"""
const coll = set({json.dumps(",".join(hosts(3)))}).getDB('e2e').getCollection('docs');
let ok = 0;
for (let i = 0; i < {count}; i++) {{
  coll.insertOne({{_id: '{prefix}' + i}}, {{writeConcern: {{w: 'majority', wtimeout: 10000}}}});
  ok++;
}}
print(ok);
""", timeout=300)
    return int(out.strip().splitlines()[-1])


def doc_ids(kube, pod: str) -> set[str]:
    out = mongosh(kube, pod, """
const ids = direct('127.0.0.1:27017').getDB('e2e').getCollection('docs').find({}, {_id: 1}).toArray();
print(JSON.stringify(ids.map((d) => d._id)));
""", timeout=120)
    return set(json.loads(out.strip().splitlines()[-1]))


class Writer(threading.Thread):
    """Majority-acknowledged inserts through the replica set for SECONDS from inside pod VIA (a
    driver that follows the primary, retryable writes); keeps the ids that were acknowledged.
    Its own API client: kubernetes' stream() is not thread-safe."""

    def __init__(self, kubeconfig, via: str, prefix: str, seconds: int, members: int = 3):
        super().__init__(daemon=True)
        self.kube, self.via, self.prefix, self.seconds, self.members = Kube(kubeconfig), via, prefix, seconds, members
        self.acked: set[str] = set()
        self.failed = 0
        self.error: Exception | None = None

    def run(self):
        js = f"""
const coll = set({json.dumps(",".join(hosts(self.members)))}).getDB('e2e').getCollection('docs');
const end = Date.now() + {self.seconds * 1000};
for (let i = 0; Date.now() < end; i++) {{
  try {{
    coll.insertOne({{_id: '{self.prefix}' + i}}, {{writeConcern: {{w: 'majority', wtimeout: 5000}}}});
    print('ok ' + i);
  }} catch (e) {{
    print('err ' + i + ' ' + e.message);
    sleep(200);
  }}
}}
"""
        try:
            out = mongosh(self.kube, self.via, js, timeout=self.seconds + 120)
        except Exception as err:  # noqa: BLE001 - reported by the test
            self.error = err
            return
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 2 and f[0] == "ok":
                self.acked.add(f"{self.prefix}{f[1]}")
            elif f and f[0] == "err":
                self.failed += 1


def agent_log(kube, pod: str) -> str:
    return kube.core.read_namespaced_pod_log(pod, NAMESPACE, container="agent")


# -- the scenarios ------------------------------------------------------------------------------------
def test_install_three_members_and_helm_test(chart, helm, kube, base_values):
    t0 = time.monotonic()
    helm.install_or_upgrade(RELEASE, chart.path, NAMESPACE, base_values, wait=True, timeout="15m")
    primary = settled(kube, 3, "install")
    FIGURES["install_to_healthy_s"] = time.monotonic() - t0
    print(f"\nhelm install -> 3 members, one primary ({primary}): {FIGURES['install_to_healthy_s']:.1f}s")
    out = helm.test(RELEASE, NAMESPACE)
    assert "OK: 1 PRIMARY" in out and "2 SECONDARY" in out and "read back from every member" in out
    assert "initiated replica set rs0" in agent_log(kube, f"{STS}-0")
    # auth is on: without credentials mongod refuses
    refused = kube.exec(NAMESPACE, primary, "agent", ["sh", "-c", (
        "HOME=/tmp mongosh --nodb --quiet --norc --eval \"new Mongo('mongodb://127.0.0.1:27017/?directConnection=true')"
        ".getDB('e2e').getCollection('x').insertOne({})\" 2>&1 || :")])
    assert "requires authentication" in refused or "Unauthorized" in refused
    # the default write concern is majority
    out = mongosh(kube, primary, "print(JSON.stringify(direct('127.0.0.1:27017').getDB('admin')"
                                 ".runCommand({getDefaultRWConcern: 1}).defaultWriteConcern))")
    assert json.loads(out.strip().splitlines()[-1])["w"] == "majority"


def test_majority_acknowledged_writes_reach_every_member(kube):
    settled(kube, 3, "before writing")
    assert insert(kube, client_pod(kube), "k", 300) == 300
    want = {f"k{i}" for i in range(300)}
    for p in pod_names(3):
        kube.wait(f"{p} has every document", lambda p=p: want <= doc_ids(kube, p), timeout=60)


def test_primary_pod_deleted_new_primary_no_acknowledged_write_lost(cluster, kube):
    old = settled(kube, 3, "before deleting the primary")
    writer = Writer(cluster.kubeconfig, client_pod(kube), "fo", seconds=30)
    writer.start()
    time.sleep(5)
    t0 = time.monotonic()
    kube.core.delete_namespaced_pod(old, NAMESPACE)  # default grace period: the preStop step-down runs
    new = kube.wait("another member PRIMARY", lambda: next(
        (p for p in pod_names(3) if p != old and view(kube, p)["primary"]), None), timeout=60, interval=0.5)
    FIGURES["primary_deleted_to_new_primary_s"] = time.monotonic() - t0
    print(f"\nprimary {old} deleted (preStop step-down) -> {new} PRIMARY after "
          f"{FIGURES['primary_deleted_to_new_primary_s']:.1f}s")
    writer.join()
    assert writer.error is None, writer.error
    settled(kube, 3, "after the primary was deleted")
    print(f"writer: {len(writer.acked)} majority-acknowledged inserts, {writer.failed} refused during the election")
    assert len(writer.acked) > 50, "the writer hardly wrote"
    for p in pod_names(3):
        kube.wait(f"{p} has every acknowledged insert", lambda p=p: writer.acked <= doc_ids(kube, p), timeout=60)
    assert view(kube, old)["secondary"] or view(kube, old)["primary"]  # back as a member of the same set


def test_pod0_volume_and_pod_deleted_resyncs_into_the_same_set(kube):
    """The top complaint about other charts: pod 0 back with an empty volume initiates a second
    replica set ("replica set IDs do not match"). Here it is resynced by the set it belonged to."""
    settled(kube, 3, "before wiping pod 0")
    before, recorded = the_id(kube), record_id(kube)
    assert before == recorded
    docs = doc_ids(kube, f"{STS}-1")
    pod0, pvc0 = f"{STS}-0", f"data-{STS}-0"
    old_uid = kube.core.read_namespaced_persistent_volume_claim(pvc0, NAMESPACE).metadata.uid
    kube.core.delete_namespaced_persistent_volume_claim(pvc0, NAMESPACE)  # held until the pod is gone
    kube.core.delete_namespaced_pod(pod0, NAMESPACE)
    kube.wait("a new volume for pod 0", lambda: kube.core.read_namespaced_persistent_volume_claim(
        pvc0, NAMESPACE).metadata.uid != old_uid, timeout=300, interval=2)
    settled(kube, 3, "after pod 0 came back with an empty volume", timeout=600)
    assert the_id(kube) == before and record_id(kube) == before, "a second replica set was initiated"
    assert {view(kube, p)["id"] for p in pod_names(3)} == {before}
    log = agent_log(kube, pod0)
    assert "initiated replica set" not in log, log
    assert "not initiating" in log  # the guard said why (the record, the members that answered)
    kube.wait("pod 0 holds every document again", lambda: docs <= doc_ids(kube, pod0), timeout=120)


def test_all_pods_deleted_at_once_one_primary_data_intact(kube):
    settled(kube, 3, "before deleting all pods")
    before = the_id(kube)
    docs = doc_ids(kube, f"{STS}-0")
    t0 = time.monotonic()
    for p in pod_names(3):
        kube.core.delete_namespaced_pod(p, NAMESPACE, grace_period_seconds=0)
    time.sleep(3)
    primary = settled(kube, 3, "after deleting all pods", timeout=600)
    FIGURES["all_pods_deleted_to_healthy_s"] = time.monotonic() - t0
    print(f"\nall pods force-deleted -> 3 members, one primary ({primary}): {FIGURES['all_pods_deleted_to_healthy_s']:.1f}s")
    assert the_id(kube) == before
    assert docs <= doc_ids(kube, primary)


def test_scale_to_five_then_back_to_three(chart, helm, kube, base_values):
    before = the_id(kube)
    t0 = time.monotonic()
    helm.install_or_upgrade(RELEASE, chart.path, NAMESPACE, {**base_values, "replicaCount": 5}, wait=True,
                            timeout="15m")
    settled(kube, 5, "scaled to 5", timeout=600)
    print(f"\nscale 3 -> 5 (members added one at a time, votes once in sync): {time.monotonic() - t0:.1f}s")
    assert "4 SECONDARY" in helm.test(RELEASE, NAMESPACE)

    t0 = time.monotonic()
    helm.install_or_upgrade(RELEASE, chart.path, NAMESPACE, {**base_values, "replicaCount": 3}, wait=True,
                            timeout="15m")
    kube.wait("3 pods", lambda: sorted(p.metadata.name for p in kube.pods(NAMESPACE, SELECTOR)) == pod_names(3),
              timeout=300)
    primary = settled(kube, 3, "scaled back to 3", timeout=600)
    print(f"scale 5 -> 3 (departing members removed before they stopped): {time.monotonic() - t0:.1f}s")
    removals = [line for p in pod_names(3) for line in agent_log(kube, p).splitlines() if ">= replicas 3" in line]
    assert removals, "no agent removed the departing members"
    assert the_id(kube) == before
    assert "2 SECONDARY" in helm.test(RELEASE, NAMESPACE)
    assert {f"k{i}" for i in range(300)} <= doc_ids(kube, primary)


def _secret(kube) -> dict[str, str]:
    data = kube.core.read_namespaced_secret(f"{STS}-auth", NAMESPACE).data
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_rolling_upgrade_keeps_every_acknowledged_write_and_the_secret(cluster, chart, helm, kube, base_values):
    settled(kube, 3, "before the upgrade")
    secret, before = _secret(kube), the_id(kube)
    uids = {p.metadata.name: p.metadata.uid for p in kube.pods(NAMESPACE, SELECTOR)}
    writer = Writer(cluster.kubeconfig, client_pod(kube), "roll", seconds=300)
    writer.start()
    values = {**base_values, "replicaCount": 3,
              "mongod": {"extraFlags": ["--setParameter=diagnosticDataCollectionEnabled=false"]}}
    t0 = time.monotonic()
    helm.install_or_upgrade(RELEASE, chart.path, NAMESPACE, values, wait=True, timeout="15m")
    kube.wait("every pod replaced", lambda: all(
        p.metadata.uid != uids.get(p.metadata.name) for p in kube.pods(NAMESPACE, SELECTOR)), timeout=600)
    primary = settled(kube, 3, "after the rolling upgrade", timeout=600)
    print(f"\nrolling upgrade (one pod at a time, the primary steps down first): {time.monotonic() - t0:.1f}s")
    writer.join()
    assert writer.error is None, writer.error
    assert len(writer.acked) > 100, f"the writer hardly wrote ({writer.failed} refused)"
    assert _secret(kube) == secret and the_id(kube) == before
    lost = writer.acked - doc_ids(kube, primary)
    assert not lost, f"{len(lost)} majority-acknowledged inserts lost in the roll: {sorted(lost)[:10]}"
    assert "OK: 1 PRIMARY" in helm.test(RELEASE, NAMESPACE)


def test_uninstall_leaves_no_pods_and_keeps_secret_and_volumes(helm, kube):
    kube.core.delete_namespaced_pod(CLIENT, NAMESPACE, grace_period_seconds=0)
    helm.uninstall(RELEASE, NAMESPACE, wait=True)
    kube.wait("no pods", lambda: not kube.pods(NAMESPACE, f"app.kubernetes.io/instance={RELEASE}"), timeout=300)
    pvcs = sorted(p.metadata.name for p in kube.core.list_namespaced_persistent_volume_claim(NAMESPACE).items)
    assert pvcs == [f"data-{p}" for p in pod_names(5)]  # Retain on delete and on scale-down
    assert _secret(kube)["mongodb-root-password"]  # helm.sh/resource-policy: keep
    print(f"\nfigures: {json.dumps({k: round(v, 2) for k, v in FIGURES.items()})}")
