"""The component preset's four deployment types on a real Kubernetes cluster, with a small HTTP
server that keeps files on its volume (the test-only `datasrv` image, tests/infra/images.py, from
Debian's python3): for each type install + helm test; stateful pod names, FQDNs that resolve and answer,
one volume per pod, ordered start; a single type refusing a second replica; Recreate
(stateless-single with a volume, and stateful-single's update) against RollingUpdate
(stateless-multi) observed pod by pod; a type switch that keeps the data (a file written, the
type switched, the file read back, both ways, by value and by a regenerated chart); the lossy
switch refused with its reason, then acknowledged. The tests run in order in one namespace."""

from __future__ import annotations

import json
import threading
import time

import pytest

import chartgen
from chartgen.errors import HelmError
from tests.kube import Kube

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("component"), pytest.mark.timeout(900)]

NAMESPACE = "chartgen-e2e-component"
RELEASE = "sm"  # the release the failure diagnostics describe first (stateful-multi)
PRESET = "component"
PORT = 8080
FIGURES: dict[str, float] = {}


def fqdn(pod: str, release: str) -> str:
    return f"{pod}.{release}-headless.{NAMESPACE}.svc.cluster.local"


def selector(release: str) -> str:
    return f"app.kubernetes.io/instance={release},app.kubernetes.io/component=main"


@pytest.fixture(scope="module")
def images(cluster):
    from tests.drivers import COMPONENT_IMAGES

    blocks = cluster.images(COMPONENT_IMAGES) or None
    if not blocks:
        pytest.skip("the component e2e runs the test-only datasrv image (tests/infra/images.py), which only "
                    "--cluster=kind builds and loads")
    server = blocks["image"]
    return {"image": f"{server['registry']}/{server['repository']}:{server['tag']}",
            "values": {"testImage": blocks["testImage"]}}


def generate(tmp_path_factory, images, chart_type: str, name: str, **kw):
    """A component chart named NAME (the release's name: its objects are NAME, NAME-0 ...) of
    CHART_TYPE around the datasrv image, as a user would generate it."""
    out = tmp_path_factory.mktemp(f"{name}-{chart_type}") / name
    return chartgen.generate(PRESET, name, type=chart_type, image=images["image"], ports=[f"http={PORT}"],
                             output=out, **kw)


def install(helm, release, chart, images, values=None, wait=True):
    t0 = time.monotonic()
    helm.install_or_upgrade(release, chart.path, NAMESPACE, {**images["values"], **(values or {})},
                            wait=wait, timeout="5m")
    return time.monotonic() - t0


# -- inside the pods (the datasrv image has python3) ---------------------------------------------

def http(kube: Kube, pod: str, method: str, url: str, body: str | None = None) -> tuple[int, str]:
    script = ("import json, sys, urllib.request as u, urllib.error as e\n"
              "a = json.loads(sys.argv[1])\n"
              "req = u.Request(a['url'], data=None if a['body'] is None else a['body'].encode(), method=a['method'])\n"
              "try:\n    r = u.urlopen(req, timeout=5); print(r.status); print(r.read().decode(), end='')\n"
              "except e.HTTPError as x:\n    print(x.code); print(x.read().decode(), end='')\n")
    out = kube.exec(NAMESPACE, pod, "main", ["python3", "-c", script,
                                              json.dumps({"method": method, "url": url, "body": body})])
    code, _, text = out.partition("\n")
    return int(code), text


def resolves(kube: Kube, pod: str, name: str) -> list[str]:
    out = kube.exec(NAMESPACE, pod, "main", ["python3", "-c", "import socket, sys\n"
                                              "print(' '.join(sorted({a[4][0] for a in socket.getaddrinfo(sys.argv[1], None)})))",
                                              name])
    return out.split()


def put(kube, pod, name, text, host="127.0.0.1"):
    assert http(kube, pod, "PUT", f"http://{host}:{PORT}/files/{name}", text)[0] == 201


def get(kube, pod, name, host="127.0.0.1") -> tuple[int, str]:
    return http(kube, pod, "GET", f"http://{host}:{PORT}/files/{name}")


def only_pod(kube, release) -> str:
    pods = [p.metadata.name for p in kube.pods(NAMESPACE, selector(release)) if p.metadata.deletion_timestamp is None]
    assert len(pods) == 1, pods
    return pods[0]


def owners(kube, release) -> list[tuple[str, str]]:
    """(pod, kind of its owner: StatefulSet or ReplicaSet) of the release's live pods."""
    return sorted((p.metadata.name, (p.metadata.owner_references or [None])[0].kind)
                  for p in kube.pods(NAMESPACE, selector(release)) if p.metadata.deletion_timestamp is None)


def claim_uid(kube, name) -> str:
    return kube.core.read_namespaced_persistent_volume_claim(name, NAMESPACE).metadata.uid


class PodWatch(threading.Thread):
    """Polls a release's pods every 0.1 s: per pod uid, when it was first seen, when it was last
    seen alive (phase Pending or Running), when it was first seen ready, and its name."""

    def __init__(self, kubeconfig, release: str):
        super().__init__(daemon=True)
        self.kube, self.release = Kube(kubeconfig), release  # its own client: stream() is not thread-safe
        self.pods: dict[str, dict] = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            now = time.monotonic()
            try:
                for p in self.kube.pods(NAMESPACE, selector(self.release)):
                    seen = self.pods.setdefault(p.metadata.uid, {"name": p.metadata.name, "first": now,
                                                                 "alive": None, "ready": None})
                    if p.status.phase in ("Pending", "Running"):
                        seen["alive"] = now
                    if Kube.ready(p) and seen["ready"] is None:
                        seen["ready"] = now
            except Exception:  # noqa: BLE001 - a transient API error: poll again
                pass
            self.stop.wait(0.1)

    def __enter__(self):
        self.start()
        time.sleep(0.5)  # the pods before the change
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.join()

    def old_and_new(self, before: set[str]) -> tuple[list[dict], list[dict]]:
        old = [v for k, v in self.pods.items() if k in before]
        new = [v for k, v in self.pods.items() if k not in before]
        return old, new


def uids(kube, release) -> set[str]:
    return {p.metadata.uid for p in kube.pods(NAMESPACE, selector(release))}


def rollout(helm, kube, cluster, release, chart, images, values) -> tuple[list[dict], list[dict]]:
    """An upgrade that changes the pod template (a new env value), watched pod by pod."""
    before = uids(kube, release)
    with PodWatch(cluster.kubeconfig, release) as watch:
        install(helm, release, chart, images, values)
        kube.wait("the old pods gone", lambda: not (uids(kube, release) & before), timeout=120)
        time.sleep(0.5)
    return watch.old_and_new(before)


# -- the scenarios ---------------------------------------------------------------------------------

def test_stateful_multi_names_fqdns_volumes_and_ordered_start(tmp_path_factory, images, helm, kube):
    chart = generate(tmp_path_factory, images, "stateful-multi", "sm", replicas=3, storage="64Mi",
                     env=["START_DELAY=2"])
    FIGURES["stateful_multi_install_s"] = took = install(helm, "sm", chart, images)
    pods = [f"sm-{i}" for i in range(3)]
    assert kube.ready_names(NAMESPACE, selector("sm")) == pods
    print(f"\nstateful-multi: helm install --wait -> 3 ready pods (OrderedReady, 2 s start each): {took:.1f}s")

    # names that resolve in the cluster, and answer as themselves
    for pod in pods:
        name = fqdn(pod, "sm")
        ip = kube.core.read_namespaced_pod(pod, NAMESPACE).status.pod_ip
        assert resolves(kube, "sm-0", name) == [ip], name
        assert http(kube, "sm-0", "GET", f"http://{name}:{PORT}/whoami") == (200, f"{pod}\n")

    # one volume per pod: its own claim, its own PV, its own data
    claims = {pod: kube.core.read_namespaced_persistent_volume_claim(f"data-{pod}", NAMESPACE) for pod in pods}
    assert len({c.spec.volume_name for c in claims.values()}) == 3
    for pod in pods:
        code, starts = http(kube, pod, "GET", f"http://127.0.0.1:{PORT}/starts")
        assert code == 200 and {ln.split()[0] for ln in starts.splitlines()} == {pod}
        put(kube, "sm-0", "who.txt", f"written to {pod}", host=fqdn(pod, "sm"))
    for pod in pods:
        assert get(kube, pod, "who.txt") == (200, f"written to {pod}")

    # ordered start: each pod was created only once the one before it was ready
    gaps = []
    for i in range(2):
        prev = kube.core.read_namespaced_pod(pods[i], NAMESPACE)
        ready_at = next(c.last_transition_time for c in prev.status.conditions if c.type == "Ready")
        created = kube.core.read_namespaced_pod(pods[i + 1], NAMESPACE).metadata.creation_timestamp
        assert created >= ready_at, f"{pods[i + 1]} created {created} before {pods[i]} was ready {ready_at}"
        gaps.append((created - kube.core.read_namespaced_pod(pods[i], NAMESPACE).metadata.creation_timestamp)
                    .total_seconds())
    FIGURES["ordered_start_gap_s"] = min(gaps)
    print(f"stateful-multi: pod N+1 created {', '.join(f'{g:.0f}s' for g in gaps)} after pod N (after it was ready)")

    out = helm.test("sm", NAMESPACE)
    assert "OK: the Service and 3 pod(s) by FQDN answer on port(s) 8080" in out


def test_stateful_single_refuses_a_second_replica_and_updates_stop_first(tmp_path_factory, images, helm, kube,
                                                                          cluster):
    chart = generate(tmp_path_factory, images, "stateful-single", "ss", storage="64Mi", env=["STOP_DELAY=2"])
    install(helm, "ss", chart, images)
    assert kube.ready_names(NAMESPACE, selector("ss")) == ["ss-0"]
    assert "OK: the Service and 1 pod(s) by FQDN answer" in helm.test("ss", NAMESPACE)
    # the schema refuses another count, and says why
    for values in ({"replicaCount": 2}, {"replicaCount": 3}):
        with pytest.raises(HelmError) as err:
            install(helm, "ss", chart, images, values)
        assert "type stateful-single runs exactly one instance" in err.value.__cause__.stderr.decode()
    assert kube.apps.read_namespaced_stateful_set("ss", NAMESPACE).spec.replicas == 1

    # an update stops the old pod fully before the new one starts
    old, new = rollout(helm, kube, cluster, "ss", chart, images, {"env": {"STOP_DELAY": "2", "REV": "2"}})
    assert len(old) == 1 and len(new) == 1 and new[0]["name"] == "ss-0"
    assert new[0]["first"] > old[0]["alive"], (old, new)
    print(f"\nstateful-single update: new ss-0 created {new[0]['first'] - old[0]['alive']:.1f}s after the old one stopped")


def test_stateless_single_with_a_volume_recreates(tmp_path_factory, images, helm, kube, cluster):
    chart = generate(tmp_path_factory, images, "stateless-single", "sl", storage="64Mi", env=["STOP_DELAY=3"])
    install(helm, "sl", chart, images)
    dep = kube.apps.read_namespaced_deployment("sl", NAMESPACE)
    assert dep.spec.strategy.type == "Recreate" and dep.spec.replicas == 1
    assert [v.persistent_volume_claim.claim_name for v in dep.spec.template.spec.volumes
            if v.persistent_volume_claim] == ["data-sl-0"]
    assert "OK: the Service answers on port(s) 8080" in helm.test("sl", NAMESPACE)
    with pytest.raises(HelmError) as err:
        install(helm, "sl", chart, images, {"replicaCount": 2})
    assert "type stateless-single runs exactly one instance" in err.value.__cause__.stderr.decode()

    old, new = rollout(helm, kube, cluster, "sl", chart, images, {"env": {"STOP_DELAY": "3", "REV": "2"}})
    assert len(old) == 1 and len(new) == 1
    FIGURES["recreate_gap_s"] = gap = new[0]["first"] - old[0]["alive"]
    assert gap > 0, f"Recreate: the new pod appeared while the old one still ran ({old}, {new})"
    print(f"\nstateless-single (Recreate): the new pod appeared {gap:.1f}s after the old one (STOP_DELAY 3 s) stopped")


def test_stateless_multi_rolls_without_losing_a_pod(tmp_path_factory, images, helm, kube, cluster):
    chart = generate(tmp_path_factory, images, "stateless-multi", "ml", replicas=2, env=["STOP_DELAY=3"])
    install(helm, "ml", chart, images)
    dep = kube.apps.read_namespaced_deployment("ml", NAMESPACE)
    assert dep.spec.strategy.type == "RollingUpdate" and dep.spec.replicas == 2
    assert not [v for v in dep.spec.template.spec.volumes if v.persistent_volume_claim]
    assert len(kube.ready_names(NAMESPACE, selector("ml"))) == 2
    assert "OK: the Service answers on port(s) 8080" in helm.test("ml", NAMESPACE)

    old, new = rollout(helm, kube, cluster, "ml", chart, images, {"env": {"STOP_DELAY": "3", "REV": "2"}})
    assert len(old) == 2 and len(new) == 2
    overlap = max(o["alive"] for o in old) - min(n["ready"] for n in new)
    FIGURES["rolling_overlap_s"] = overlap
    assert overlap > 0, f"RollingUpdate: no new pod was ready while an old one still ran ({old}, {new})"
    print(f"\nstateless-multi (RollingUpdate): new and old pods ran together for {overlap:.1f}s")


def test_type_switch_keeps_the_data(tmp_path_factory, images, helm, kube):
    """stateless-single -> stateful-single with a regenerated chart (same name), then back by value."""
    stateless = generate(tmp_path_factory, images, "stateless-single", "sw", storage="64Mi")
    install(helm, "sw", stateless, images)
    pod = only_pod(kube, "sw")
    put(kube, pod, "keep.txt", "written by stateless-single")
    uid = claim_uid(kube, "data-sw-0")

    stateful = generate(tmp_path_factory, images, "stateful-single", "sw", storage="64Mi")
    t0 = time.monotonic()
    install(helm, "sw", stateful, images)
    FIGURES["switch_to_stateful_s"] = time.monotonic() - t0
    kube.wait("only sw-0", lambda: owners(kube, "sw") == [("sw-0", "StatefulSet")]
              and len(kube.pods(NAMESPACE, selector("sw"))) == 1, timeout=120)
    assert kube.apps.read_namespaced_stateful_set("sw", NAMESPACE).metadata.annotations["chartgen.io/type"] == \
        "stateful-single"
    assert get(kube, "sw-0", "keep.txt") == (200, "written by stateless-single")
    assert claim_uid(kube, "data-sw-0") == uid  # the same volume, adopted by the StatefulSet
    put(kube, "sw-0", "keep.txt", "written by stateful-single")

    t0 = time.monotonic()
    install(helm, "sw", stateful, images, {"type": "stateless-single"})  # one chart, the type as a value
    FIGURES["switch_to_stateless_s"] = time.monotonic() - t0
    kube.wait("one Deployment pod, no StatefulSet pod",
              lambda: [k for _, k in owners(kube, "sw")] == ["ReplicaSet"] and len(kube.pods(NAMESPACE, selector("sw"))) == 1,
              timeout=120)
    assert get(kube, only_pod(kube, "sw"), "keep.txt") == (200, "written by stateful-single")
    assert claim_uid(kube, "data-sw-0") == uid
    print(f"\ntype switch with data kept: stateless-single -> stateful-single {FIGURES['switch_to_stateful_s']:.1f}s, "
          f"back {FIGURES['switch_to_stateless_s']:.1f}s (helm upgrade --wait), one PVC throughout")


def test_a_lossy_switch_is_refused_until_acknowledged(helm, kube, images, tmp_path_factory):
    """stateful-multi with 3 pods -> stateless-single would leave data-sm-1 and data-sm-2 unused."""
    chart = generate(tmp_path_factory, images, "stateful-multi", "sm", replicas=3, storage="64Mi")
    put(kube, "sm-0", "keep.txt", "pod 0's data")
    for values in ({"type": "stateless-single", "replicaCount": 1},
                   {"type": "stateless-multi", "replicaCount": 2, "persistence": {"enabled": False}}):
        with pytest.raises(HelmError) as err:
            install(helm, "sm", chart, images, values)
        text = err.value.__cause__.stderr.decode()
        assert f"type switch stateful-multi -> {values['type']}" in text and "data-sm-1, data-sm-2" in text, text
        assert "typeSwitch.acknowledgeDataLoss=true" in text
    assert kube.ready_names(NAMESPACE, selector("sm")) == ["sm-0", "sm-1", "sm-2"]  # nothing changed

    install(helm, "sm", chart, images, {"type": "stateless-single", "replicaCount": 1,
                                        "typeSwitch": {"acknowledgeDataLoss": True}})
    kube.wait("one Deployment pod, no StatefulSet pod",
              lambda: [k for _, k in owners(kube, "sm")] == ["ReplicaSet"] and len(kube.pods(NAMESPACE, selector("sm"))) == 1,
              timeout=180)
    assert get(kube, only_pod(kube, "sm"), "keep.txt") == (200, "pod 0's data")
    left = sorted(c.metadata.name for c in kube.core.list_namespaced_persistent_volume_claim(
        NAMESPACE, label_selector="app.kubernetes.io/instance=sm").items)
    assert left == ["data-sm-0", "data-sm-1", "data-sm-2"]  # acknowledged: unused, never deleted


def test_figures():
    print("\n" + "\n".join(f"  {k}: {v:.1f}" for k, v in FIGURES.items()))
