"""The failover bench: every clustered preset, the same faults, measured as an application sees it.

    .venv/bin/python -m tests.bench [--cluster=local] [--presets etcd,redis] [--runs 3] [--out docs/bench]

For each preset, two installs side by side (the chart's defaults, and the same chart with the
settings the most-used charts ship), and for each install, --runs times each fault while an
in-cluster writer (tests/bench/presets.py) writes continuously:
  delete   the leader/primary pod deleted (graceful: preStop handover where the chart has one)
  freeze   the leader/primary's containers cgroup-frozen for 30 s, then thawed (local cluster)
  all      every pod deleted at once
  rolling  a rolling upgrade (a changed setting)
Per run: seconds from the fault until writes resume (the end of the longest gap between
acknowledged writes), that longest gap, acknowledged writes lost (read back once the cluster
is healthy again), and seconds until every member is ready again. Not a test: speed figures
live here, the e2e suite keeps the correctness assertions.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.bench.presets import STOP, Preset

WINDOW_AFTER_READY = 5.0  # keep writing this long after the cluster is ready again
FREEZE_SECONDS = 30.0


@dataclass
class Run:
    preset: str
    config: str
    fault: str
    resume_s: float  # fault -> writes acknowledged again (end of the longest gap)
    longest_gap_s: float
    acked: int
    lost: int
    ready_s: float  # fault -> every member ready again
    timeline: list[float] = field(default_factory=list)  # ack times relative to the fault


class Bench:
    def __init__(self, kube, helm, chart_path: Path, preset: Preset, image_values: dict[str, Any], ns: str):
        self.kube, self.helm, self.chart, self.p = kube, helm, chart_path, preset
        self.image_values, self.ns = image_values, ns

    # -- the release ----------------------------------------------------------------------
    def values(self, config: str, extra: dict | None = None) -> dict[str, Any]:
        from chartgen.values import merge

        base = {"persistence": {"size": "1Gi"}, **self.p.values}
        merge(base, dict(self.image_values))
        if config == "bitnami":
            merge(base, dict(self.p.bitnami))
        if extra:
            merge(base, dict(extra))
        return base

    def install(self, config: str) -> None:
        # a fresh namespace: an interrupted run leaves its release and writer pods behind
        self.kube.delete_namespace(self.ns)
        self.helm.install_or_upgrade(self.p.release, self.chart, self.ns, self.values(config), wait=True, timeout="10m")
        self.wait_healthy(600)

    def healthy(self) -> bool:
        ready = self.kube.ready_names(self.ns, self.p.selector)
        return len(ready) == 3 and self.p.leader(self.kube, self.ns) is not None

    def calm(self) -> bool:
        """Healthy, and settled enough that the next fault measures the chart (Preset.calm)."""
        return self.healthy() and (self.p.calm is None or self.p.calm(self.kube, self.ns))

    def wait_healthy(self, limit: float) -> float:
        t0 = time.time()
        self.kube.wait("3 ready members and a leader", self.healthy, timeout=limit, interval=0.5)
        return time.time() - t0

    # -- the writer -----------------------------------------------------------------------
    def start_writer(self, name: str) -> str:
        from kubernetes import client

        from chartgen.chart import Chart

        image_key, script, env = self.p.writer(self.ns)
        img = {**Chart(self.chart).values[image_key], **self.image_values.get(image_key, {})}
        ref = f"{img['registry']}/{img['repository']}:{img['tag']}"
        env_list = []
        for k, v in env.items():
            if isinstance(v, dict):
                ref_ = v["secretKeyRef"]
                env_list.append(client.V1EnvVar(name=k, value_from=client.V1EnvVarSource(
                    secret_key_ref=client.V1SecretKeySelector(name=ref_["name"], key=ref_["key"]))))
            else:
                env_list.append(client.V1EnvVar(name=k, value=v))
        security = client.V1PodSecurityContext(run_as_user=self.p.run_as, run_as_group=self.p.run_as) \
            if self.p.run_as else None
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels={"app.kubernetes.io/name": "bench-writer",
                                                            f"{self.p.release}-client": "true"}),
            spec=client.V1PodSpec(restart_policy="Never", security_context=security, containers=[client.V1Container(
                name="writer", image=ref, image_pull_policy="IfNotPresent", command=["/bin/sh", "-c", script],
                env=env_list)]))
        self.kube.core.create_namespaced_pod(self.ns, pod)
        self.kube.wait("writer running", lambda: self.kube.core.read_namespaced_pod(name, self.ns).status.phase
                       == "Running", timeout=120)
        return name

    def stop_writer(self, name: str) -> list[tuple[int, float]]:
        self.kube.exec(self.ns, name, "writer", ["/bin/sh", "-c", f": > {STOP}"])
        self.kube.wait("writer done", lambda: self.kube.core.read_namespaced_pod(name, self.ns).status.phase
                       in ("Succeeded", "Failed"), timeout=60)
        text = self.kube.core.read_namespaced_pod_log(name, self.ns)
        self.kube.core.delete_namespaced_pod(name, self.ns, grace_period_seconds=0)
        acks = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit():
                acks.append((int(parts[0]), float(parts[1].replace(",", "."))))
        return acks

    # -- faults ---------------------------------------------------------------------------
    def fault(self, kind: str, config: str, n: int = 0) -> float:
        """Start fault KIND (the Nth run); returns its epoch time (the writer's clock is this machine's)."""
        leader = self.p.leader(self.kube, self.ns)
        t = time.time()
        if kind == "delete":
            self.kube.core.delete_namespaced_pod(leader, self.ns)
        elif kind == "freeze":
            self.kube.freeze(self.ns, leader, True)
            time.sleep(FREEZE_SECONDS)
            self.kube.freeze(self.ns, leader, False)
        elif kind == "all":
            for pod in self.kube.pods(self.ns, self.p.selector):
                self.kube.core.delete_namespaced_pod(pod.metadata.name, self.ns)
        elif kind == "rolling":
            # the changed setting, and an annotation that differs per run: every run rolls the pods
            change = {**self.p.upgrade_change, "podAnnotations": {"chartgen.io/bench-run": f"{kind}-{n}"}}
            self.helm.install_or_upgrade(self.p.release, self.chart, self.ns,
                                         self.values(config, change), wait=True, timeout="10m")
        else:
            raise ValueError(kind)
        return t

    def run(self, kind: str, config: str, n: int) -> Run:
        self.kube.wait("healthy and calm before the fault", self.calm, timeout=600, interval=0.5)
        writer = self.start_writer(f"bench-writer-{kind}-{config}-{n}")
        time.sleep(5)  # writes flowing before the fault
        t_fault = self.fault(kind, config, n)
        time.sleep(2)
        self.kube.wait("every member ready again", self.healthy, timeout=900, interval=0.5)
        ready_s = time.time() - t_fault
        time.sleep(WINDOW_AFTER_READY)
        acks = self.stop_writer(writer)
        kept = self.p.read_back(self.kube, self.ns)
        lost = len([seq for seq, _ in acks if seq not in kept])
        times = [t - t_fault for _, t in acks]
        around = [x for x in times if x >= -1.0]
        gaps = [(b - a, b) for a, b in zip(around, around[1:])]
        longest, end = max(gaps, default=(0.0, 0.0))
        return Run(self.p.name, config, kind, max(0.0, end) if longest > 0.5 else 0.0, longest,
                   len(acks), lost, ready_s, [round(x, 3) for x in times if -5 <= x <= 120])

    def uninstall(self) -> None:
        self.helm.uninstall(self.p.release, self.ns, wait=True)
        for pvc in self.kube.core.list_namespaced_persistent_volume_claim(self.ns).items:
            self.kube.core.delete_namespaced_persistent_volume_claim(pvc.metadata.name, self.ns)
        for name in ("etcd-auth", "redis-auth", "mysql-auth"):
            try:
                self.kube.core.delete_namespaced_secret(name, self.ns)
            except Exception:  # noqa: BLE001 - not this preset's
                pass


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    rows = []
    keys = sorted({(r.preset, r.fault, r.config) for r in runs})
    for preset, fault, config in keys:
        sel = [r for r in runs if (r.preset, r.fault, r.config) == (preset, fault, config)]

        def med(attr):
            vals = [getattr(r, attr) for r in sel]
            return {"median": round(statistics.median(vals), 2), "min": round(min(vals), 2), "max": round(max(vals), 2)}

        rows.append({"preset": preset, "fault": fault, "config": config, "runs": len(sel),
                     "resume_s": med("resume_s"), "longest_gap_s": med("longest_gap_s"),
                     "ready_s": med("ready_s"), "acked": sum(r.acked for r in sel),
                     "lost": sum(r.lost for r in sel)})
    return rows


def to_json(runs: list[Run]) -> dict[str, Any]:
    return {"runs": [asdict(r) for r in runs], "summary": summarize(runs)}
