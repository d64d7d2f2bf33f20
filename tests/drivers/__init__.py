"""What each clustered preset (and flavor) means at test time, written once and used by the e2e
scenarios, the multi-node scenarios and the bench alike (tests/scenario.py runs them):

- the values that make its chart run on the cluster at hand (test images on kind),
- a writer: a Pod running the engine's own client from the chart's own image, writing through
  the chart's client (or primary) Service, one line ``<seq> <epoch seconds>`` per write the
  cluster acknowledged in the durable way ``acknowledged`` names, until /tmp/stop exists,
- the leader/primary finder, the read-back of the writes (from the leader or any member),
- "settled": N ready members, exactly one leader that every member agrees on.

A new preset = its folder in presets/, one Driver subclass here (registered in DRIVERS), and
its test images in tests/infra/images.py.
"""

from __future__ import annotations

import os

from dataclasses import dataclass
from typing import Any, ClassVar

from kubernetes import client

STOP = "/tmp/stop"
# seconds a writer waits after each write: about 20 writes a second resolve a gap to 50 ms, and
# several writers side by side leave the nodes' CPUs to the members (etcd's bash-static has no
# sleep; its etcdctl is slower than the pace anyway)
PACE = 0.05
ROLE_LABEL = "chartgen.io/role"


@dataclass
class Release:
    """One installed release of a driver's chart."""
    driver: "Driver"
    kube: Any
    helm: Any
    chart: Any           # chartgen.Chart
    ns: str
    values: dict[str, Any]
    name: str = ""

    def __post_init__(self):
        self.name = self.name or self.driver.release

    @property
    def selector(self) -> str:
        return f"app.kubernetes.io/instance={self.name},app.kubernetes.io/component=member"

    def pod(self, i: int) -> str:
        return f"{self.driver.statefulset(self.name)}-{i}"

    def pods(self, n: int) -> list[str]:
        return [self.pod(i) for i in range(n)]

    def upgrade(self, extra: dict[str, Any] | None = None, wait: bool = True, timeout: str = "10m") -> None:
        import copy

        from chartgen.values import merge

        values = copy.deepcopy(self.values)
        merge(values, copy.deepcopy(extra or {}))
        self.helm.install_or_upgrade(self.name, self.chart.path, self.ns, values, wait=wait, timeout=timeout)

    def leader(self, timeout: float = 60) -> str:
        """The one pod labelled as the leader, waited for (a settled release's agents may be
        relabelling a moment later, between two of their rounds)."""
        return self.kube.wait(f"one {self.driver.leader_word} labelled in {self.ns}",
                              lambda: self.driver.leader(self), timeout=timeout, interval=0.5)

    def settled(self, n: int) -> str | None:
        """The leader when N members are ready, exactly one leads and every member agrees."""
        if len(self.kube.ready_names(self.ns, self.selector)) != n:
            return None
        return self.driver.settled(self, n)

    def wait_settled(self, n: int, what: str, timeout: float = 300, interval: float = 0.5) -> str:
        return self.kube.wait(f"{what}: {n} ready members, one {self.driver.leader_word} they agree on",
                              lambda: self.settled(n), timeout=timeout, interval=interval)

    # -- the writer --------------------------------------------------------------------
    def start_writer(self, name: str) -> str:
        """A writer pod NAME; its writes are tagged NAME (read_back(..., NAME) finds them)."""
        d = self.driver
        image_path, script, env = d.writer(self)
        env = {**env, "RUN": name.replace("-", "_")}
        img = {**self.chart.values[image_path], **self.values.get(image_path, {})}
        ref = f"{img['registry']}/{img['repository']}:{img['tag']}"
        env_list = []
        for k, v in env.items():
            if isinstance(v, dict):   # a Secret's key
                env_list.append(client.V1EnvVar(name=k, value_from=client.V1EnvVarSource(
                    secret_key_ref=client.V1SecretKeySelector(name=v["secret"], key=v["key"]))))
            else:
                env_list.append(client.V1EnvVar(name=k, value=v))
        security = client.V1PodSecurityContext(run_as_user=d.run_as, run_as_group=d.run_as) if d.run_as else None
        # a client off the members' nodes where it can be (kind: the control plane), so draining
        # or stopping a member's node never takes the writer with it
        cp = "node-role.kubernetes.io/control-plane"
        affinity = client.V1Affinity(node_affinity=client.V1NodeAffinity(
            preferred_during_scheduling_ignored_during_execution=[client.V1PreferredSchedulingTerm(
                weight=100, preference=client.V1NodeSelectorTerm(match_expressions=[
                    client.V1NodeSelectorRequirement(key=cp, operator="Exists")]))]))
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels={"app.kubernetes.io/name": "test-writer",
                                                            f"{self.name}-client": "true"}),
            spec=client.V1PodSpec(restart_policy="Never", security_context=security, affinity=affinity,
                                  tolerations=[client.V1Toleration(key=cp, operator="Exists", effect="NoSchedule")],
                                  termination_grace_period_seconds=1, containers=[client.V1Container(
                                      name="writer", image=ref, image_pull_policy="IfNotPresent",
                                      command=["/bin/sh", "-c", script], env=env_list)]))
        try:
            self.kube.core.delete_namespaced_pod(name, self.ns, grace_period_seconds=0)
            self.kube.wait(f"old {name} gone", lambda: name not in [p.metadata.name for p in self.kube.pods(self.ns)],
                           timeout=60)
        except client.exceptions.ApiException:
            pass
        self.kube.core.create_namespaced_pod(self.ns, pod)
        self.kube.wait(f"writer {name} running", lambda: self.kube.core.read_namespaced_pod(name, self.ns).status.phase
                       == "Running", timeout=120)
        return name

    def stop_writer(self, name: str) -> list[tuple[int, float]]:
        """Stop the writer; its acknowledged writes as (seq, epoch seconds)."""
        self.kube.wait("the writer told to stop", lambda: self.kube.exec(
            self.ns, name, "writer", ["/bin/sh", "-c", f": > {STOP}; echo stopping"]), timeout=120, interval=2)
        self.kube.wait("writer done", lambda: self.kube.core.read_namespaced_pod(name, self.ns).status.phase
                       in ("Succeeded", "Failed"), timeout=120)
        acks = self.acks(name)
        self.kube.core.delete_namespaced_pod(name, self.ns, grace_period_seconds=0)
        return acks

    def acks(self, name: str, tail: int | None = None) -> list[tuple[int, float]]:
        """Writer NAME's acknowledged writes so far (its last TAIL lines' worth)."""
        text = self.kube.core.read_namespaced_pod_log(name, self.ns, tail_lines=tail)
        acks = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit():
                acks.append((int(parts[0]), float(parts[1].replace(",", "."))))
        return acks


# the e2e suite's Lease for the Lease-fenced presets (MySQL/MariaDB, PostgreSQL): its releases keep
# this machine's 2 cores busy and the kind control plane answers renewals late, for tens of seconds
# at worst (a cold run: "the Lease was not renewed for 31s" during a roll: primaries fenced, the
# majority lost); a 15 s Lease renewed every 3 s rides that out. The bench runs the charts' defaults.
LOADED_HOST_LEASE = {"failover": {"leaseDurationSeconds": 15, "renewIntervalSeconds": 3}}


class Driver:
    name: ClassVar[str]                 # as in test ids and figures: etcd, redis, valkey, mariadb...
    preset: ClassVar[str]
    flavor: ClassVar[str | None] = None
    release: ClassVar[str]
    leader_word: ClassVar[str] = "leader"
    # which writes the writer counts as acknowledged (what the chart documents as durable)
    acknowledged: ClassVar[str]
    # values path of an image block -> its test image (tests/infra/images.py); a server image
    # without a test image (mongod, Oracle MySQL) cannot run on the kind cluster built here
    test_images: ClassVar[dict[str, str]]
    cannot_run_here: ClassVar[str] = ""  # why not, when a server has no test image
    run_as: ClassVar[int | None] = None   # uid of the writer pod (an image whose user must not be root)
    values: ClassVar[dict[str, Any]] = {}
    e2e_values: ClassVar[dict[str, Any]] = {}       # added by the e2e suite only (not the bench)
    upgrade_change: ClassVar[dict[str, Any]] = {}   # a setting whose change rolls every pod
    # the most-used chart's settings, to compare against (bench)
    bitnami: ClassVar[dict[str, Any]] = {}
    bitnami_note: ClassVar[str] = ""
    sts_suffix: ClassVar[str] = ""
    # another driver whose preset's scripts this flavor runs unchanged on its own image (valkey:
    # redis). The e2e suite runs such a flavor through FLAVOR_SCENARIOS only (what its image
    # changes: its server and client binaries start, replicate, fail over on kind; its member-level
    # tests run every Redis scenario with its own servers); the bench runs
    # it under every fault like any driver.
    flavor_of: ClassVar[str] = ""

    def statefulset(self, release: str) -> str:
        return release + self.sts_suffix

    def install_values(self, cluster) -> dict[str, Any]:
        """Small volumes, the driver's own values, and images the cluster can run."""
        return {"persistence": {"size": "1Gi"}, **self.values, **cluster.images(self.test_images)}

    def runnable(self, cluster) -> str:
        """'' when the driver's chart can run on CLUSTER, else why not (decided from what the
        cluster has: only --cluster=existing may pull)."""
        return "" if cluster.can_pull or not self.cannot_run_here else self.cannot_run_here

    # -- per engine -------------------------------------------------------------------------
    def leader(self, r: Release) -> str | None:
        """The pod labelled as the leader (role labels), when exactly one is."""
        lead = [p for p, role in r.kube.labelled(r.ns, r.selector, ROLE_LABEL).items() if role == self.leader_word]
        return lead[0] if len(lead) == 1 else None

    def settled(self, r: Release, n: int) -> str | None:
        raise NotImplementedError

    def writer(self, r: Release) -> tuple[str, str, dict[str, Any]]:
        """(values path of the image the writer runs, its sh script, its environment); the
        script tags its writes with $RUN."""
        raise NotImplementedError

    def read_back(self, r: Release, run: str, pod: str | None = None) -> set[int]:
        """The sequence numbers of writer RUN the cluster holds (asked of POD, default the leader)."""
        raise NotImplementedError

    def check_members(self, r: Release, n: int) -> None:
        """What the engine itself says of N settled members, beyond `settled` (e.g. Sentinel
        forgot the departed ones); raises AssertionError."""

    def calm(self, r: Release) -> bool:
        """Settled enough for the next fault to measure the chart (e.g. no sentinel in TILT)."""
        return True


def registry() -> dict[str, Driver]:
    from tests.drivers.etcd import Etcd
    from tests.drivers.mongodb import MongoDB
    from tests.drivers.mysql import MariaDB, MySQL
    from tests.drivers.postgresql import PostgreSQL
    from tests.drivers.redis import Redis, Valkey

    wanted = set(os.environ.get("CHARTGEN_PENDING_DRIVERS", "").split(","))
    return {d.name: d for d in (Etcd(), Redis(), MariaDB(), PostgreSQL(), Valkey(), MySQL(), MongoDB())
            if d.name not in PENDING or d.name in wanted}


# drivers that pass the e2e suite and the bench when asked (CHARTGEN_PENDING_DRIVERS=postgresql
# make e2e, or python -m tests.bench) but stay out of CI's run for now: on 2 cores PostgreSQL's
# batch adds 15 to 35 min to a cold .ci/run, which takes 64 min without it (over the 60 min goal);
# alone on kind every postgresql scenario and node fault passes (issue 20)
PENDING = {"postgresql"}


# the e2e scenarios a flavor (Driver.flavor_of) runs: test functions, and of the fault scenarios
# the faults (the whole catalogue runs for the driver whose scripts it shares)
FLAVOR_SCENARIOS = {"test_install_three_members_and_helm_test", "test_fault_loses_no_acknowledged_write",
                    "test_uninstall_keeps_the_data_and_the_secret"}
FLAVOR_FAULTS = {"pod-deleted"}


def flavor_runs(driver: Driver, function: str, module: str, fault: str | None) -> bool:
    """Whether the e2e test FUNCTION of MODULE (with FAULT) runs for DRIVER."""
    if not driver.flavor_of:
        return True
    return module.endswith("test_scenarios") and function in FLAVOR_SCENARIOS and (fault is None or fault in FLAVOR_FAULTS)


# the component chart's e2e (tests/e2e/test_component.py): a test-only HTTP server that keeps
# files on its volume, and the official Debian slim image's stand-in for its helm test
COMPONENT_IMAGES = {"image": "datasrv", "testImage": "debian"}


def e2e_images() -> list[str]:
    """Every test image the e2e suite loads into the cluster (`python -m tests.drivers`)."""
    names = {recipe for d in registry().values() for recipe in d.test_images.values()}
    return sorted(names | set(COMPONENT_IMAGES.values()))
