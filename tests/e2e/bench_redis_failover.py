"""Failover figures for the redis chart on a real Kubernetes cluster (not collected by pytest).

    .venv/bin/python -m tests.e2e.bench_redis_failover [--cluster=local] [--runs 5] [--skip-bitnami]

For the chart's defaults (down-after 5 s, failover-timeout 10 s) and for the same chart with
Bitnami's default timings (down-after 60 s, failover-timeout 180 s), in namespace
chartgen-bench-redis: seconds from `helm install` to healthy, then, --runs times each:
- graceful: the master pod deleted with its grace period (preStop handover runs);
- forced:   the master pod deleted with grace period 0 (`kubectl delete --force --grace-period=0`).
            The kubelet still gives the containers its minimum grace period, in which the
            preStop hook gets as far as SENTINEL FAILOVER; the StatefulSet recreates the pod at
            once, so the old pod may also come back as master before the sentinels notice:
            the figure is the time until a master - a new one, or a new process of the old
            pod - takes writes, and the table says which;
- frozen:   the master pod's cgroup frozen (a hung node: nothing answers, nothing restarts,
            no hook runs) until another pod takes writes: the sentinels' own detection
            (down-after) and failover. Needs root on the node: --cluster=local only.
Each figure: from the delete/freeze to the first SET accepted by the master the sentinels
name (polled from a surviving pod), and through the <fullname>-master Service.
Medians (min-max). With Bitnami's timings a frozen run takes over a minute.
"""

from __future__ import annotations

import argparse
import glob
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import chartgen
from chartgen.helm import Helm
from tests.e2e import test_redis as t
from tests.e2e.kube import Kube

NAMESPACE = "chartgen-bench-redis"
KUBECONFIG: Path | None = None
BITNAMI = {"sentinel": {"downAfterMilliseconds": 60000, "failoverTimeout": 180000}}


def _parse(text: str) -> tuple[str | None, str | None]:
    """(pod, run_id) of a redis-server that answered OK to the SET, else (None, None)."""
    f = text.split()
    if not f or f[0] != "OK":
        return None, None
    pod = next((x.split(".")[0] for x in f if x.startswith(f"{t.STS}-") and "." in x), None)
    run_id = next((x.split(":", 1)[1] for x in f if x.startswith("run_id:")), None)
    return pod, run_id


CMDS = "printf 'SET bench:probe x\\nCONFIG GET replica-announce-ip\\nINFO server\\n'"


def probe_sentinel(kube: Kube, via: str) -> tuple:
    """(pod, run_id) of the master VIA's sentinel names, if it took a SET."""
    c = t.cli_cmd
    script = (f"m=$({c('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', t.MASTER_SET, sentinel=True)} | head -1); "
              f"[ -n \"$m\" ] && {CMDS} | {c(host='$m', secs=1)} | tr -d '\\r' | tr '\\n' ' '")
    return _parse(t.sh(kube, via, script, timeout=20))


def probe_service(kube: Kube, via: str) -> tuple:
    """(pod, run_id) behind the master Service, if it took a SET."""
    script = f"{CMDS} | {t.cli_cmd(host=t.MASTER_SVC, secs=1)} | tr -d '\\r' | tr '\\n' ' '"
    return _parse(t.sh(kube, via, script, timeout=20))


def freeze(kube: Kube, pod: str, frozen: bool) -> None:
    """Freeze or thaw every process of POD (cgroup v1 freezer or v2 cgroup.freeze)."""
    uid = kube.core.read_namespaced_pod(pod, NAMESPACE).metadata.uid
    names = {f"pod{uid}", f"pod{uid.replace('-', '_')}"}
    v1 = [d for n in names for d in glob.glob(f"/sys/fs/cgroup/freezer/kubepods*/**/{n}", recursive=True)]
    v2 = [d for n in names for d in glob.glob(f"/sys/fs/cgroup/kubepods*/**/{n}*", recursive=True)]
    if v1:
        Path(v1[0], "freezer.state").write_text("FROZEN" if frozen else "THAWED")
    elif v2:
        Path(v2[0], "cgroup.freeze").write_text("1" if frozen else "0")
    else:
        raise RuntimeError(f"no cgroup of pod {pod} ({uid}) on this machine")


def one_master(kube: Kube) -> str | None:
    """3 ready pods, one labelled master that is master and that every sentinel names. Looser
    than the e2e test's settled(): a replica may still replicate through another one (with a
    long failover-timeout, Sentinel fixes such a chain only after that timeout)."""
    if len(kube.ready_names(NAMESPACE, t.SELECTOR)) != 3:
        return None
    labelled = [p for p, r in t.labels(kube).items() if r == "master"]
    if len(labelled) != 1 or t.role(kube, labelled[0])[0] != "master":
        return None
    m = labelled[0]
    if any(t.sentinel_named(kube, p) != t.fqdn(m) for p in t.pod_names(3)):
        return None
    # a thawed pod's sentinel saw its clock jump and stays in TILT mode (no votes, no failover)
    # for 30 s: the next run waits for it, or it would measure a cluster with one sentinel less
    if any("sentinel_tilt:1" in t.cli(kube, p, "INFO", "sentinel", sentinel=True) for p in t.pod_names(3)):
        return None
    return m


def settled(kube: Kube, what: str, limit: float) -> str:
    return kube.wait(f"{what}: 3 ready pods, one master the sentinels name", lambda: one_master(kube), timeout=limit)


def failover(kube: Kube, mode: str, limit: float) -> dict:
    old = settled(kube, "before the run", limit)
    via = next(p for p in t.pod_names(3) if p != old)
    old_run_id = next(x.split(":", 1)[1] for x in t.cli(kube, old, "INFO", "server").split()
                      if x.startswith("run_id:"))
    grace = 0 if mode == "forced" else None
    t0 = time.monotonic()
    if mode == "frozen":
        freeze(kube, old, True)
    else:
        kube.core.delete_namespaced_pod(old, NAMESPACE, grace_period_seconds=grace)
    res: dict = {"old": old}
    deadline = t0 + limit

    # graceful and frozen runs wait for another pod; after a forced one the old pod may come
    # back as master (a new redis-server process): anything but the deleted process counts
    def accept(pod, run_id) -> bool:
        return bool(pod) and run_id != old_run_id and (grace == 0 or pod != old)

    def poll(key: str, probe, client: Kube) -> None:
        # each path polled on its own (a hung connection to the old master must not delay
        # the other), with its own API client (kubernetes' stream() is not thread-safe)
        while time.monotonic() < deadline:
            try:
                pod, run_id = probe(client, via)
            except Exception:  # noqa: BLE001 - exec while pods move
                pod = run_id = None
            if accept(pod, run_id):
                res[key] = time.monotonic() - t0
                if key == "sentinel":
                    res["new"] = pod
                return
            time.sleep(0.1)

    threads = [threading.Thread(target=poll, args=("sentinel", probe_sentinel, Kube(KUBECONFIG))),
               threading.Thread(target=poll, args=("service", probe_service, Kube(KUBECONFIG)))]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        if mode == "frozen":
            freeze(kube, old, False)
    if "sentinel" not in res:
        raise TimeoutError(f"no writable master within {limit}s after deleting {old}")
    res.setdefault("service", float("nan"))
    settled(kube, "after the run", limit)
    return res


def run_config(helm: Helm, kube: Kube, chart: Path, values: dict, runs: int, limit: float,
               modes: list[str]) -> dict:
    t.NAMESPACE = NAMESPACE  # the helpers of test_redis address this namespace
    t.MASTER_SVC = f"redis-master.{NAMESPACE}.svc.cluster.local"
    reset_namespace(kube)
    t0 = time.monotonic()
    helm.install_or_upgrade("redis", chart, NAMESPACE, values, wait=True, timeout="10m")
    settled(kube, "install", limit)
    out = {"install": time.monotonic() - t0, **{m: [] for m in modes}}
    print(f"  install -> healthy: {out['install']:.1f}s", flush=True)
    for kind in modes:
        for _ in range(runs):
            r = failover(kube, kind, limit)
            out[kind].append(r)
            print(f"  {kind:8} {r['old']} -> {r['new']}: writable {r['sentinel']:.2f}s "
                  f"(master Service {r['service']:.2f}s)", flush=True)
    helm.uninstall("redis", NAMESPACE, wait=True)
    return out


def reset_namespace(kube: Kube) -> None:
    from kubernetes import client

    try:
        kube.core.delete_namespace(NAMESPACE)
    except client.exceptions.ApiException as err:
        if err.status != 404:
            raise
        return
    kube.wait("old namespace gone", lambda: NAMESPACE not in
              [n.metadata.name for n in kube.core.list_namespace().items], timeout=180)


def summary(runs: list[dict], key: str) -> str:
    vals = [r[key] for r in runs]
    return f"{statistics.median(vals):6.2f} ({min(vals):.2f}-{max(vals):.2f})"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cluster", choices=["local", "existing"], default="local")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-bitnami", action="store_true")
    ap.add_argument("--only-bitnami", action="store_true")
    ap.add_argument("--modes", default="graceful,forced,frozen", help="comma-separated: graceful,forced,frozen")
    args = ap.parse_args(argv)
    modes = args.modes.split(",")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still thaw a frozen pod (finally)
    if args.cluster == "local":
        from tests.e2e.conftest import _local
        cluster = _local()
        kubeconfig, image_values = cluster.kubeconfig, cluster.image_values.get("redis", {})
    else:
        import os
        kubeconfig, image_values = Path(os.environ["KUBECONFIG"]), {}
    global KUBECONFIG
    KUBECONFIG = kubeconfig
    kube, helm = Kube(kubeconfig), Helm(kubeconfig=kubeconfig, timeout="10m")
    base = {"persistence": {"size": "1Gi"}, **image_values}
    configs = [] if args.only_bitnami else [("chart defaults (down-after 5 s, failover-timeout 10 s)", {}, 120)]
    if not args.skip_bitnami:
        configs.append(("Bitnami timings (down-after 60 s, failover-timeout 180 s)", BITNAMI, 400))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        chart = chartgen.generate("redis", "redis", output=Path(tmp) / "redis").path
        for label, values, limit in configs:
            print(f"{label}:", flush=True)
            results.append((label, run_config(helm, kube, chart, {**base, **values}, args.runs, limit, modes)))
    print(f"\nmedian (min-max) seconds over {args.runs} runs, 3 pods, from the delete/freeze to a "
          "writable master (through the master Service):")
    print("| configuration | install -> healthy | " + " | ".join(f"{m} -> writable" for m in modes) + " |")
    print("|---|---|" + "---|" * len(modes))
    for label, r in results:
        cells = []
        for m in modes:
            cell = f"{summary(r[m], 'sentinel').strip()} ({summary(r[m], 'service').strip()})"
            same = sum(1 for x in r[m] if x["new"] == x["old"])
            if same:
                cell += f"; old pod back as master {same}/{len(r[m])}"
            cells.append(cell)
        print(f"| {label} | {r['install']:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
