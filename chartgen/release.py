"""Releases on a cluster: install or upgrade with progress, uninstall, status.

helm does the work (through chartgen/helm.py and pyhelm3); the `kubernetes` client only reads:
pods for the progress line while helm waits, pods' events and last log lines when helm fails,
and pod readiness for `status`. What it reports is what the API shows: a member is healthy
when its pod is Ready (the presets' readiness probes mean "serving as a member"); a leader is
named only when pods carry a ``chartgen.io/role`` label, otherwise it says it cannot know.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import describe
from . import values as values_mod
from .chart import Chart
from .errors import (
    ChartNotFoundError,
    ClusterUnreachableError,
    HelmError,
    InvalidValueError,
    ReleaseFailedError,
)
from .helm import Helm

RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DURATION = re.compile(r"^(\d+(\.\d+)?(h|m|s|ms))+$")
ROLE_LABEL = "chartgen.io/role"
LEADER_ROLES = ("leader", "primary", "master")
INSTANCE = "app.kubernetes.io/instance"
LOG_LINES = 10


def check_release(name: str) -> str:
    if not RELEASE_NAME.match(name or "") or len(name) > 53:
        raise InvalidValueError(
            f"--release {name!r}: not a valid release name; use a DNS-1123 label of at most 53 "
            "characters (lower-case letters, digits and '-', e.g. my-etcd)"
        )
    return name


def check_timeout(text: str) -> str:
    if not DURATION.match(text or ""):
        raise InvalidValueError(f"--timeout {text!r}: not a duration; use e.g. 300s, 10m or 1h")
    return text


def kubeconfig_path(kubeconfig: str | Path | None) -> str:
    """The kubeconfig helm and the client will use; refuses a missing file up front."""
    if kubeconfig:
        path, flag = Path(kubeconfig), f"--kubeconfig {kubeconfig}"
    elif os.environ.get("KUBECONFIG"):
        path, flag = Path(os.environ["KUBECONFIG"].split(os.pathsep)[0]), f"KUBECONFIG={os.environ['KUBECONFIG']}"
    else:
        path, flag = Path.home() / ".kube" / "config", "~/.kube/config"
    if not path.is_file():
        raise ClusterUnreachableError(
            f"{flag}: no kubeconfig file there; pass --kubeconfig PATH (or set KUBECONFIG) for a running cluster"
        )
    return str(path)


# -- the reads ----------------------------------------------------------------------------
class Kube:
    """The few reads chartgen makes through the kubernetes client (imported on first use)."""

    def __init__(self, kubeconfig: str):
        from kubernetes import client, config

        try:
            api = config.new_client_from_config(config_file=kubeconfig)
        except Exception as err:  # the loader raises ConfigException, ValueError, ...
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ClusterUnreachableError(f"--kubeconfig {kubeconfig}: cannot be used ({first}); fix or replace it") from None
        api.configuration.retries = 0
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)

    def workloads(self, namespace: str, release: str) -> list[Any]:
        """The release's StatefulSets and Deployments (live objects)."""
        sel = f"{INSTANCE}={release}"
        return (self.apps.list_namespaced_stateful_set(namespace, label_selector=sel).items
                + self.apps.list_namespaced_deployment(namespace, label_selector=sel).items)

    def member_pods(self, workload: Any) -> list[Any]:
        labels = workload.spec.selector.match_labels or {}
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        pods = self.core.list_namespaced_pod(workload.metadata.namespace, label_selector=selector).items
        owned = [p for p in pods if any(o.kind in ("StatefulSet", "ReplicaSet")  # not hook Jobs' pods
                                        for o in (p.metadata.owner_references or []))]
        return sorted(owned, key=lambda p: _ordinal_key(p.metadata.name))

    def release_pods(self, namespace: str, release: str) -> list[Any]:
        pods = self.core.list_namespaced_pod(namespace, label_selector=f"{INSTANCE}={release}").items
        return sorted(pods, key=lambda p: _ordinal_key(p.metadata.name))

    def events(self, namespace: str, kind: str, name: str, limit: int = 6) -> list[Any]:
        sel = f"involvedObject.kind={kind},involvedObject.name={name}"
        items = self.core.list_namespaced_event(namespace, field_selector=sel).items
        items.sort(key=lambda e: str(e.last_timestamp or e.event_time or e.metadata.creation_timestamp))
        return items[-limit:]

    def log_tail(self, namespace: str, pod: str, container: str, previous: bool,
                 lines: int = LOG_LINES) -> list[str]:
        try:
            text = self.core.read_namespaced_pod_log(pod, namespace, container=container,
                                                     tail_lines=lines, previous=previous)
        except Exception:  # no log yet (never started), or the previous one is gone
            return []
        return [ln for ln in (text or "").splitlines() if ln.strip()][-lines:]

    def claims(self, namespace: str, release: str) -> list[str]:
        items = self.core.list_namespaced_persistent_volume_claim(namespace, label_selector=f"{INSTANCE}={release}").items
        return sorted(c.metadata.name for c in items)


def _ordinal_key(name: str):
    head, _, tail = name.rpartition("-")
    return (head, int(tail)) if tail.isdigit() else (name, -1)


def pod_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def pod_problem(pod: Any, verbose: bool = True) -> str:
    """Why a pod is not ready, from its phase and its containers' states (messages if verbose)."""
    reasons = []
    statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])
    for cs in statuses:
        state = cs.state
        if state and state.waiting and state.waiting.reason not in (None, "PodInitializing"):
            msg = f": {state.waiting.message}" if state.waiting.message and verbose else ""
            reasons.append(f"{cs.name} {state.waiting.reason}{msg}")
        elif state and state.terminated and state.terminated.exit_code not in (0, None):
            reasons.append(f"{cs.name} exited {state.terminated.exit_code} ({state.terminated.reason})")
        elif state and state.running and not cs.ready and cs.name in [c.name for c in pod.spec.containers]:
            reasons.append(f"{cs.name} running, not ready")
        if cs.restart_count:
            reasons.append(f"{cs.name} restarted {cs.restart_count}x")
    if not reasons:  # not even scheduled: say why (e.g. hard anti-affinity with too few nodes)
        for cond in pod.status.conditions or []:
            if cond.type == "PodScheduled" and cond.status == "False" and cond.reason == "Unschedulable":
                msg = f": {cond.message}" if cond.message and verbose else ""
                reasons.append(f"{pod.status.phase or 'Pending'}, unschedulable{msg}")
    return "; ".join(reasons) or (pod.status.phase or "Unknown")


@dataclass
class Progress:
    ready: int
    desired: int
    waiting: list[str] = field(default_factory=list)  # "pod: why"

    def line(self) -> str:
        more = f" — {', '.join(self.waiting[:3])}" if self.waiting else ""
        return f"pods ready {self.ready}/{self.desired}{more}"


def progress(kube: Kube, namespace: str, release: str) -> Progress:
    workloads = kube.workloads(namespace, release)
    pods = [p for w in workloads for p in kube.member_pods(w)]
    desired = sum(int(w.spec.replicas if w.spec.replicas is not None else 1) for w in workloads)
    ready = [p for p in pods if pod_ready(p)]
    waiting = [f"{p.metadata.name}: {pod_problem(p, verbose=False)}" for p in pods if not pod_ready(p)]
    return Progress(len(ready), max(desired, len(pods)), waiting)


def diagnose(kube: Kube, namespace: str, release: str, every_pod: bool = False,
             log_lines: int = LOG_LINES) -> list[str]:
    """Events and last log lines of the release's pods that are not ready (hooks included);
    of every pod with EVERY_POD (the e2e suite's failure report)."""
    lines: list[str] = []
    try:
        workloads = kube.workloads(namespace, release)
        for w in workloads:
            for ev in kube.events(namespace, _kind(w), w.metadata.name):
                if ev.type != "Normal":
                    lines.append(f"{_kind(w)} {w.metadata.name}: {ev.reason}: {ev.message}")
        pods = {p.metadata.name: p for w in workloads for p in kube.member_pods(w)}
        pods.update({p.metadata.name: p for p in kube.release_pods(namespace, release)})
        if not pods:
            lines.append(f"no pods were created for release {release} in namespace {namespace}")
        for pod in pods.values():
            if (pod_ready(pod) or pod.status.phase == "Succeeded") and not every_pod:
                continue
            state = "ready" if pod_ready(pod) else pod_problem(pod)
            lines.append(f"pod {pod.metadata.name}: {pod.status.phase}; {state}")
            events = kube.events(namespace, "Pod", pod.metadata.name, limit=20)
            warnings = [ev for ev in events if ev.type != "Normal"]
            for ev in warnings[-5:] or events[-3:]:
                count = f" (x{ev.count})" if ev.count and ev.count > 1 else ""
                lines.append(f"  event {ev.type} {ev.reason}: {ev.message}{count}")
            statuses = (pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])
            for cs in statuses:
                started = cs.state and (cs.state.running or cs.state.terminated)
                previous = bool(cs.restart_count) and not (cs.state and cs.state.running)
                if not (started or previous):
                    continue
                for ln in kube.log_tail(namespace, pod.metadata.name, cs.name, previous, log_lines):
                    lines.append(f"  log {cs.name}: {ln}")
    except Exception as err:  # diagnostics must never hide helm's own error
        lines.append(f"(could not read pods and events: {type(err).__name__}: {str(err).splitlines()[0][:200]})")
    return lines


def _kind(obj: Any) -> str:
    """'StatefulSet' for a V1StatefulSet (items of a list carry no kind of their own)."""
    return getattr(obj, "kind", None) or type(obj).__name__.removeprefix("V1")


# -- install / upgrade ------------------------------------------------------------------------
@dataclass
class Installed:
    release: str
    namespace: str
    revision: int
    status: str
    chart: str
    app_version: str
    progress: Progress | None


def install_values(chart_dir: Path, values_files: list[Path], sets: list[str]) -> dict[str, Any]:
    """The user's overrides (files, then --set), checked against the chart's schema and the
    rules its Chart.yaml records (which field counts members, whether a majority decides)."""
    overrides: dict[str, Any] = {}
    for path in values_files:
        values_mod.merge(overrides, values_mod.load_values_file(Path(path)))
    for expr in sets:
        parts, value = values_mod.parse_set(expr)
        values_mod.set_path(overrides, parts, value)
    schema_file = chart_dir / "values.schema.json"
    if schema_file.is_file():
        schema = json.loads(schema_file.read_text())
        about = describe.read(Chart(chart_dir).metadata.get("annotations"))
        merged = values_mod.apply_overrides(values_mod.load_defaults(chart_dir / "values.yaml"), schema,
                                            values_files=list(values_files), sets=list(sets))
        values_mod.validate(merged, schema, about.replicas_field, about.majority)
    return overrides


def install(
    release: str,
    *,
    namespace: str = "default",
    preset: str | None = None,
    chart: Path | None = None,
    chart_type: str | None = None,
    image: str | None = None,
    flavor: str | None = None,
    values_files: list[Path] | tuple = (),
    sets: list[str] | tuple = (),
    wait: bool = False,
    timeout: str = "5m",
    kubeconfig: str | Path | None = None,
    report: Callable[[str], None] = lambda line: None,
    poll_seconds: float = 1.0,
) -> Installed:
    """Install or upgrade RELEASE from a preset (generated into a temporary chart) or a chart
    directory. While helm waits, ``report`` gets a line each time the pods' readiness changes;
    when helm fails, ReleaseFailedError carries the pods' events and last log lines."""
    check_release(release)
    check_timeout(timeout)
    if (preset is None) == (chart is None):
        raise InvalidValueError("--preset/--chart: pass exactly one: a preset to generate from, or a chart directory")
    if chart is not None and not (Path(chart) / "Chart.yaml").is_file():
        raise ChartNotFoundError(f"--chart {chart}: no Chart.yaml there; pass a generated chart directory")
    if chart is not None and (chart_type or image):
        raise InvalidValueError("--type/--image: they choose how --preset generates a chart; with --chart, "
                                "set the chart's values instead (--set type=..., --set image.repository=...)")
    if chart is not None and flavor:
        raise InvalidValueError("--flavor: it chooses how --preset generates a chart; a chart directory has its flavor")
    with tempfile.TemporaryDirectory(prefix="chartgen-install-") as tmp:
        if chart is None:
            from .generator import generate

            from .presets import charts_of, load

            # the chart is named as charts/ publishes the flavor (mariadb, valkey)
            name = next((c.name for c in charts_of(load(preset)) if flavor and c.flavor == flavor), preset)
            chart_dir = generate(preset, name, flavor=flavor, type=chart_type, image=image, output=Path(tmp) / name).path
        else:
            chart_dir = Path(chart)
        overrides = install_values(chart_dir, list(values_files), list(sets))
        config = kubeconfig_path(kubeconfig)
        kube = Kube(config)
        helm = Helm(config, timeout=timeout)

        outcome: dict[str, Any] = {}

        def run():
            try:
                outcome["revision"] = helm.install_or_upgrade(release, chart_dir, namespace, overrides,
                                                              wait=wait, timeout=timeout)
            except BaseException as err:  # handed to the main thread
                outcome["error"] = err

        worker = threading.Thread(target=run, name=f"helm-{release}", daemon=True)
        worker.start()
        last = None
        started = time.monotonic()
        while worker.is_alive():
            worker.join(poll_seconds)
            if wait and worker.is_alive():
                try:
                    now = progress(kube, namespace, release)
                except Exception:  # progress is best effort; helm's outcome decides
                    continue
                if last is None or (now.ready, now.desired, now.waiting) != (last.ready, last.desired, last.waiting):
                    report(f"[{time.monotonic() - started:4.0f}s] {now.line()}")
                    last = now

        error = outcome.get("error")
        if isinstance(error, HelmError):  # helm ran and failed: say why, from the pods
            details = diagnose(kube, namespace, release)
            try:
                state = progress(kube, namespace, release)
                pods = f"{state.ready}/{state.desired} pods ready"
            except Exception:
                pods = "pods unknown"
            raise ReleaseFailedError(f"release {release}: {error}; {pods}; the pods' events and logs are above",
                                     details) from error
        if error is not None:
            raise error
        revision = outcome["revision"]
        final = None
        if wait:
            try:
                final = progress(kube, namespace, release)
            except Exception:
                final = None
        meta = revision.chart_metadata_
        return Installed(release, namespace, revision.revision, str(revision.status.value),
                         f"{meta.name}-{meta.version}" if meta else "?",
                         str(meta.app_version) if meta and meta.app_version else "?", final)


def uninstall(release: str, *, namespace: str = "default", wait: bool = True,
              kubeconfig: str | Path | None = None) -> list[str]:
    """helm uninstall; returns the PersistentVolumeClaims left behind (helm keeps them)."""
    check_release(release)
    config = kubeconfig_path(kubeconfig)
    Helm(config).uninstall(release, namespace, wait=wait)
    try:
        return Kube(config).claims(namespace, release)
    except Exception:
        return []


# -- status -----------------------------------------------------------------------------------
@dataclass
class Member:
    pod: str
    ready: bool
    role: str | None
    detail: str


@dataclass
class Status:
    release: str
    namespace: str
    revision: int
    status: str
    chart: str
    app_version: str
    workloads: list[str]
    desired: int
    members: list[Member]
    types: list[str] = field(default_factory=list)  # the workloads' chartgen.io/type annotations
    quorum: bool = True  # a workload says a majority decides (chartgen.io/quorum); else no leader

    @property
    def healthy(self) -> int:
        return sum(m.ready for m in self.members)

    @property
    def leaders(self) -> list[str]:
        return [m.pod for m in self.members if m.role in LEADER_ROLES]

    @property
    def leader_line(self) -> str:
        if self.leaders:
            roles = {m.pod: m.role for m in self.members}
            named = ", ".join(f"{pod} ({roles[pod]})" for pod in self.leaders)
            return f"leader: {named}, from the pods' {ROLE_LABEL} label"
        if any(m.role for m in self.members):
            return f"leader: none (no pod has {ROLE_LABEL} in {'/'.join(LEADER_ROLES)})"
        if not self.quorum:
            return "leader: n/a (no majority decides here: the pods elect no leader)"
        return (f"leader: n/a (no pod carries a {ROLE_LABEL} label; this chart does not publish roles, "
                "ask the members themselves, e.g. etcdctl endpoint status)")

    @property
    def ok(self) -> bool:
        return self.status == "deployed" and self.healthy == self.desired and self.desired > 0


def status(release: str, *, namespace: str = "default", kubeconfig: str | Path | None = None) -> Status:
    check_release(release)
    config = kubeconfig_path(kubeconfig)
    revision, resources, meta = Helm(config).status(release, namespace)
    kube = Kube(config)
    names = {(r.get("kind"), (r.get("metadata") or {}).get("name")) for r in resources if r}
    members: list[Member] = []
    workloads, desired, types, quorum = [], 0, [], False
    for w in kube.workloads(namespace, release):
        if (_kind(w), w.metadata.name) not in names:  # labelled like ours, but not this release's
            continue
        workloads.append(f"{_kind(w)}/{w.metadata.name}")
        annotations = w.metadata.annotations or {}
        if annotations.get("chartgen.io/type"):
            types.append(annotations["chartgen.io/type"])
        # charts from before chartgen.io/quorum was recorded: a StatefulSet may be a quorum
        quorum = quorum or annotations.get("chartgen.io/quorum") == "true" or (
            _kind(w) == "StatefulSet" and "chartgen.io/type" not in annotations)
        desired += int(w.spec.replicas if w.spec.replicas is not None else 1)
        for pod in kube.member_pods(w):
            labels = pod.metadata.labels or {}
            members.append(Member(pod.metadata.name, pod_ready(pod), labels.get(ROLE_LABEL),
                                  "ready" if pod_ready(pod) else pod_problem(pod)))
    return Status(release, namespace, revision.revision, str(revision.status.value),
                  f"{meta.name}-{meta.version}", str(meta.app_version or "?"), workloads, desired, members,
                  sorted(set(types)), quorum)
