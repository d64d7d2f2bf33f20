"""The one cluster interface of the tests that need Kubernetes (e2e, publish, bench):
``--cluster=kind`` (the kind cluster built on this machine: 1 control plane + 3 workers in two
zones, tests/infra/kind) or ``--cluster=existing`` ($KUBECONFIG; only there may images be pulled),
and a small client over kubernetes' Python client (no kubectl text), with what the faults need
of the nodes.
"""

from __future__ import annotations

import glob
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.stream import stream

ZONE_LABEL = "topology.kubernetes.io/zone"
CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"


@dataclass
class Cluster:
    kind: str                      # kind | existing
    kubeconfig: Path
    loaded: dict[str, str] = field(default_factory=dict)   # test image recipe -> reference

    @property
    def on_this_machine(self) -> bool:
        """Its nodes' cgroups and network namespaces are this machine's (freeze, cut off)."""
        return self.kind == "kind"

    @property
    def can_pull(self) -> bool:
        """Whether its nodes may pull the official images (only a cluster given by the user)."""
        return self.kind == "existing"

    def image(self, recipe: str) -> str:
        """A test image (tests/infra/images.py) in every node; its reference."""
        if recipe not in self.loaded:
            from tests.infra.kind import cluster as kind

            self.loaded[recipe] = kind.load_test_image(recipe)
        return self.loaded[recipe]

    def images(self, blocks: dict[str, str]) -> dict[str, dict]:
        """Values for the image blocks of a chart (values path -> test image recipe) that make it
        run here: the test images on kind, nothing on an existing cluster (its defaults pull)."""
        if self.can_pull:
            return {}
        out = {}
        for path, recipe in blocks.items():
            repo, tag = self.image(recipe).rsplit(":", 1)
            registry, repository = repo.split("/", 1)
            out[path] = {"registry": registry, "repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}
        return out

    def node(self, name: str, verb: str) -> None:
        """docker stop/start/pause/unpause of a node's container (kind only)."""
        from tests.infra.kind import dockerd

        dockerd.docker(verb, name, timeout=300)

    def on_node(self, name: str, *argv: str) -> str:
        """A command in a node's container (kind only)."""
        from tests.infra.kind import dockerd

        return dockerd.docker("exec", name, *argv, timeout=120).stdout


_SESSION: dict = {}


def open_cluster(request) -> Cluster:
    """The session's cluster, as --cluster chose (skips when none was chosen)."""
    if "cluster" in _SESSION:
        return _SESSION["cluster"]
    choice = request.config.getoption("--cluster")
    if choice is None:
        pytest.skip("needs a cluster: choose one with --cluster=kind|existing (make e2e uses kind)")
    if choice == "existing":
        path = os.environ.get("KUBECONFIG")
        if not path or not Path(path).is_file():
            pytest.skip("--cluster=existing needs KUBECONFIG naming a kubeconfig file")
        _SESSION["cluster"] = Cluster("existing", Path(path))
        return _SESSION["cluster"]
    _SESSION["cluster"] = Cluster("kind", kind_cluster(keep=os.environ.get("KINDKUBE_KEEP") == "1",
                                                       cleanup=request.session.config.add_cleanup))
    return _SESSION["cluster"]


def kind_cluster(keep: bool = True, cleanup=None) -> Path:
    """The kind cluster through pytest-kind, with the kind CLI and node image built here (or
    $KIND_NODE_IMAGE on a machine whose Docker can pull); created once, reused when it runs."""
    from pytest_kind import KindCluster

    from tests.infra import shelf
    from tests.infra.kind import cluster as kind
    from tests.infra.kind import dockerd

    dockerd.up()
    os.environ.update(dockerd.env())  # pytest-kind runs kind, kind runs docker: the project's engine
    kc = KindCluster(kind.NAME, kubeconfig=kind.kubeconfig_path(), image=kind.node_image(),
                     kind_path=shelf.path("kind"), kubectl_path=shelf.path("kubectl"))
    kc.create(config_file=kind.config_file())
    if not keep and cleanup is not None:
        cleanup(kc.delete)
    kind.finish(kc.kubeconfig_path)
    return Path(kc.kubeconfig_path)


class Kube:
    def __init__(self, kubeconfig: Path):
        self.kubeconfig = kubeconfig
        self.api_client = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.coordination = client.CoordinationV1Api(self.api_client)

    def save_logs(self, ns: str, selector: str, into: Path) -> Path:
        """Every container's log (and its previous instance's) of the pods SELECTOR picks, one
        file each under INTO: the evidence a failed scenario leaves behind."""
        into.mkdir(parents=True, exist_ok=True)
        for pod in self.pods(ns, selector):
            for c in pod.spec.containers:
                for previous in (False, True):
                    try:
                        text = self.core.read_namespaced_pod_log(pod.metadata.name, ns, container=c.name,
                                                                 previous=previous, timestamps=True)
                    except client.exceptions.ApiException:
                        continue   # no previous instance
                    name = f"{pod.metadata.name}-{c.name}{'-previous' if previous else ''}.log"
                    (into / name).write_text(text)
        return into

    # -- queries -----------------------------------------------------------------
    def pods(self, ns: str, selector: str = "") -> list:
        return self.core.list_namespaced_pod(ns, label_selector=selector).items

    @staticmethod
    def ready(pod) -> bool:
        if pod.metadata.deletion_timestamp is not None:
            return False
        conds = pod.status.conditions or []
        return any(c.type == "Ready" and c.status == "True" for c in conds)

    def ready_names(self, ns: str, selector: str) -> list[str]:
        return sorted(p.metadata.name for p in self.pods(ns, selector) if self.ready(p))

    def labelled(self, ns: str, selector: str, label: str) -> dict[str, str | None]:
        return {p.metadata.name: (p.metadata.labels or {}).get(label) for p in self.pods(ns, selector)}

    def exec(self, ns: str, pod: str, container: str, command: list[str], timeout: int = 120,
             stderr: bool = True) -> str:
        """COMMAND's output in a pod's container (its stderr too unless STDERR is false: a
        client's warnings must not mix with the JSON it prints)."""
        return stream(self.core.connect_get_namespaced_pod_exec, pod, ns, container=container,
                      command=command, stderr=stderr, stdin=False, stdout=True, tty=False,
                      _request_timeout=timeout)

    def wait(self, what: str, cond, timeout: float = 300, interval: float = 1.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = cond()
                if last:
                    return last
            except Exception as err:  # noqa: BLE001 - transient API/exec errors while pods move
                last = err
            time.sleep(interval)
        raise TimeoutError(f"{what}: not within {timeout}s (last: {last!r})")

    def delete_namespace(self, ns: str, timeout: float = 180) -> None:
        """Delete namespace NS, if it exists, and wait until it is gone."""
        try:
            self.core.delete_namespace(ns)
        except client.exceptions.ApiException as err:
            if err.status != 404:
                raise
            return
        self.wait(f"namespace {ns} gone",
                  lambda: ns not in [n.metadata.name for n in self.core.list_namespace().items], timeout=timeout)

    # -- nodes ---------------------------------------------------------------------
    def workers(self) -> list[str]:
        out = []
        for node in self.core.list_node().items:
            taints = [t.key for t in (node.spec.taints or [])]
            if CONTROL_PLANE_TAINT not in taints and not node.spec.unschedulable:
                out.append(node.metadata.name)
        return sorted(out)

    def control_plane(self) -> str:
        return next(n.metadata.name for n in self.core.list_node().items
                    if CONTROL_PLANE_TAINT in [t.key for t in (n.spec.taints or [])])

    def zones(self) -> dict[str, str | None]:
        return {n.metadata.name: (n.metadata.labels or {}).get(ZONE_LABEL) for n in self.core.list_node().items}

    def placement(self, ns: str, selector: str) -> dict[str, str | None]:
        """pod -> node it is bound to (None while unscheduled)."""
        return {p.metadata.name: p.spec.node_name for p in self.pods(ns, selector)}

    def node_ready(self, node: str) -> bool:
        conds = self.core.read_node(node).status.conditions or []
        return any(c.type == "Ready" and c.status == "True" for c in conds)

    def kubectl(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """The real kubectl (the shelf's) against this cluster."""
        from tests.infra import shelf

        return subprocess.run([str(shelf.path("kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
                              capture_output=True, text=True, timeout=timeout)

    def events(self, ns: str, pod: str, reason: str) -> list:
        """POD's events of one REASON (FailedScheduling, Unhealthy, ...)."""
        events = self.core.list_namespaced_event(ns, field_selector=f"involvedObject.name={pod}").items
        return [e for e in events if e.reason == reason]

    def pending_reasons(self, ns: str, pod: str) -> list[str]:
        return [e.message for e in self.events(ns, pod, "FailedScheduling")]

    def probe_failures(self, ns: str, pods: list[str]) -> list[str]:
        """The failed probes kubelet reported for PODS (its Unhealthy events: which probe, what it printed)."""
        return [f"{pod} {e.last_timestamp or e.event_time or e.first_timestamp:%H:%M:%S} x{e.count or 1}: "
                f"{e.message.strip()[:300]}" for pod in pods for e in self.events(ns, pod, "Unhealthy")]

    # -- a pod's processes on this machine ----------------------------------------------
    def cgroups(self, ns: str, pod: str) -> list[Path]:
        """The pod's cgroup directories on this machine (the freezer's under cgroup v1, else v2):
        cgroupfs names them pod<uid>, the systemd driver (kind's kubelet)
        kubelet-kubepods-<qos>-pod<uid_with_underscores>.slice."""
        uid = self.core.read_namespaced_pod(pod, ns).metadata.uid
        names = {f"pod{uid}", f"pod{uid.replace('-', '_')}"}
        v1 = [Path(d) for n in names for d in glob.glob(f"/sys/fs/cgroup/freezer/**/*{n}*", recursive=True)
              if Path(d, "freezer.state").exists()]
        if v1:
            return v1
        v2 = [Path(d) for n in names for d in glob.glob(f"/sys/fs/cgroup/**/{n}*", recursive=True)
              if Path(d, "cgroup.freeze").exists()]
        if not v2:
            raise RuntimeError(f"no cgroup of pod {pod} ({uid}) on this machine: needs the node's cgroups here")
        return v2[:1]

    def pids(self, ns: str, pod: str) -> list[int]:
        """Host PIDs of the pod's processes (its sandbox's included)."""
        found: set[int] = set()
        for d in self.cgroups(ns, pod):
            for f in d.rglob("cgroup.procs"):
                found |= {int(x) for x in f.read_text().split()}
        return sorted(found)

    def freeze(self, ns: str, pod: str, frozen: bool) -> None:
        """Freeze or thaw every process of POD: a hung node, as far as its pods go (nothing
        answers, nothing restarts)."""
        for d in self.cgroups(ns, pod):
            if (d / "freezer.state").exists():
                (d / "freezer.state").write_text("FROZEN" if frozen else "THAWED")
            else:
                (d / "cgroup.freeze").write_text("1" if frozen else "0")

    def cut_off(self, ns: str, pod: str, cut: bool) -> None:
        """Drop (or allow again) every packet of POD's network but its loopback: its processes
        keep running, nothing reaches them, they reach nothing (peers, clients, API server)."""
        pid = self.sandbox_pid(ns, pod)
        verb = "-I" if cut else "-D"
        for chain, iface in (("INPUT", "-i"), ("OUTPUT", "-o")):
            done = subprocess.run(["nsenter", "-t", str(pid), "-n", "iptables", "-w", verb, chain, "!", iface, "lo",
                                   "-j", "DROP"], capture_output=True, text=True)
            if cut and done.returncode != 0:   # undone by the caller's cut_off(..., False)
                raise RuntimeError(f"cutting {pod} off ({chain}): {done.stderr.strip()}")

    def sandbox_pid(self, ns: str, pod: str) -> int:
        """The host PID of POD's sandbox (its pause process: alive as long as the pod's network
        namespace), else its oldest process (a probe's or an agent's child may exit any time)."""
        def started(pid: int) -> int:
            try:
                return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
            except (OSError, IndexError, ValueError):
                return 1 << 62
        pids = self.pids(ns, pod)
        for pid in pids:
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "pause":
                    return pid
            except OSError:
                continue
        return min(pids, key=started)
