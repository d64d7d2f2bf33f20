"""Failover figures for the mysql chart on a real Kubernetes cluster (not collected by pytest).

    .venv/bin/python -m tests.e2e.bench_mysql_failover [--cluster=local] [--runs 3] [--flavor mariadb]

Side by side, the chart's defaults (Lease failover, switchover in preStop, lossless semi-sync)
and the same chart with failover off (ordinal 0 always the primary, no switchover: what a
Bitnami user gets), in namespace chartgen-bench-mysql, --runs times each:
- graceful: the primary pod deleted with its grace period (the preStop switchover runs);
- frozen:   the primary pod's cgroup frozen (a hung node: nothing answers, no hook runs) and
            thawed after 40 s (or once another pod took writes). Needs root on the node:
            --cluster=local only.
Each figure: seconds from the delete/freeze to the first write through the <fullname>-primary
Service that lands on a member able to take it (with failover off that is the old primary
again, back or thawed); and the writes a client saw acknowledged (a writer inserting through
the Service all along) that the primary no longer has afterwards. Medians (min-max).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import chartgen
from chartgen.helm import Helm
from tests.e2e import test_mysql as t
from tests.e2e.kube import Kube

NAMESPACE = "chartgen-bench-mysql"
FAILOVER_OFF = {"failover": {"enabled": False}, "switchover": {"enabled": False}}
THAW_AFTER = 40.0


def primary(kube: Kube, ctx: t.Ctx, lease: bool) -> str | None:
    """3 ready pods, one labelled primary that takes writes (and holds the Lease, with failover)."""
    if lease:
        return t.primary_of(kube, ctx, 3)
    if len(kube.ready_names(ctx.ns, t.SELECTOR)) != 3:
        return None
    prim = [p for p, r in t.labels(kube, ctx).items() if r == "primary"]
    return prim[0] if len(prim) == 1 and t.writable(kube, ctx, prim[0]) else None


def settled(kube: Kube, ctx: t.Ctx, lease: bool, what: str) -> str:
    return kube.wait(f"{what}: 3 ready pods, one primary", lambda: primary(kube, ctx, lease), timeout=400, interval=2)


def first_write(kube: Kube, ctx: t.Ctx, old: str, t0: float, anywhere: bool, limit: float) -> float | None:
    """Seconds from T0 to the first write through the primary Service (on another pod, unless
    ANYWHERE); None when there was none within LIMIT."""
    try:
        return t.first_write_elsewhere(kube, ctx, "" if anywhere else old, t0, limit)
    except TimeoutError:
        return None


def one_run(kube: Kube, kubeconfig: Path, ctx: t.Ctx, mode: str, lease: bool, first_id: int) -> dict:
    old = settled(kube, ctx, lease, "before the run")
    writer = t.Writer(kubeconfig, ctx, first_id, seconds=240)
    writer.start()
    time.sleep(2)
    t0 = time.monotonic()
    res = {"old": old}
    if mode == "frozen":
        t.freeze(kube, ctx, old, True)
        try:
            res["s"] = first_write(kube, ctx, old, t0, anywhere=False, limit=THAW_AFTER)
        finally:
            t.freeze(kube, ctx, old, False)
        if res["s"] is None:  # failover off: writes come back with the thawed primary only
            res["s"] = first_write(kube, ctx, old, t0, anywhere=True, limit=THAW_AFTER + 120)
            res["note"] = "writes refused until the pod was thawed"
    else:
        kube.core.delete_namespaced_pod(old, ctx.ns)
        res["s"] = first_write(kube, ctx, old, t0, anywhere=not lease, limit=300)
    new = settled(kube, ctx, lease, "after the run")
    writer.finish(kube)
    have = t.ids(kube, ctx, new)
    res["acked"], res["lost"] = len(writer.acked), len(writer.acked - have)
    res["new"] = new
    return res


def run_config(helm: Helm, kube: Kube, kubeconfig: Path, chart: Path, values: dict, runs: int, modes: list[str],
               ctx: t.Ctx) -> dict:
    lease = values.get("failover", {}).get("enabled", True)
    reset_namespace(kube)
    t0 = time.monotonic()
    helm.install_or_upgrade("mysql", chart, NAMESPACE, values, wait=True, timeout="10m")
    p = settled(kube, ctx, lease, "install")
    out = {"install": time.monotonic() - t0, **{m: [] for m in modes}}
    print(f"  install -> healthy: {out['install']:.1f}s", flush=True)
    t.client_pod(kube, ctx, kube.core.read_namespaced_pod(p, ctx.ns).spec.containers[0].image)
    t.sql(kube, ctx, p, "CREATE DATABASE e2e; CREATE TABLE e2e.acked (id INT PRIMARY KEY); "
                        "CREATE TABLE e2e.probe (n INT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6))")
    n = 0
    for mode in modes:
        for _ in range(runs):
            n += 1
            r = one_run(kube, kubeconfig, ctx, mode, lease, n * 100_000)
            out[mode].append(r)
            s = "none" if r["s"] is None else f"{r['s']:.1f}s"
            print(f"  {mode:8} {r['old']} -> {r['new']}: a write through the primary Service after {s}; "
                  f"{r['acked']} acknowledged, {r['lost']} lost{'; ' + r['note'] if 'note' in r else ''}", flush=True)
    helm.uninstall("mysql", NAMESPACE, wait=True)
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
              [n.metadata.name for n in kube.core.list_namespace().items], timeout=240)


def cell(runs: list[dict]) -> str:
    vals = [r["s"] for r in runs if r["s"] is not None]
    if not vals:
        return "no write"
    text = f"{statistics.median(vals):.1f} ({min(vals):.1f}-{max(vals):.1f})"
    lost = sum(r["lost"] for r in runs)
    text += f"; lost {lost} of {sum(r['acked'] for r in runs)} acknowledged"
    notes = {r["note"] for r in runs if "note" in r}
    return text + (f"; {', '.join(sorted(notes))}" if notes else "")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cluster", choices=["local", "existing"], default="local")
    ap.add_argument("--flavor", choices=["mariadb", "mysql"], default="mariadb")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="graceful,frozen", help="comma-separated: graceful,frozen")
    args = ap.parse_args(argv)
    modes = args.modes.split(",")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still thaw a frozen pod (finally)
    if args.cluster == "local":
        if args.flavor == "mysql":
            sys.exit("the mysql flavor needs the official mysql:8.4 image: use --cluster=existing")
        from tests.e2e.conftest import _local
        cluster = _local()
        kubeconfig, image_values = cluster.kubeconfig, cluster.image_values.get(f"mysql-{args.flavor}", {})
    else:
        kubeconfig, image_values = Path(os.environ["KUBECONFIG"]), {}
        if "frozen" in modes:
            sys.exit("frozen runs freeze a pod's cgroup on the node: --cluster=local only (or --modes graceful)")
    kube, helm = Kube(kubeconfig), Helm(kubeconfig=kubeconfig, timeout="10m")
    ctx = t.Ctx(args.flavor, NAMESPACE)
    base = {"persistence": {"size": "1Gi"}, **image_values}
    configs = [("chart defaults (Lease failover, switchover, lossless semi-sync)", {}),
               ("failover off (ordinal 0 always the primary: what a Bitnami user gets)", FAILOVER_OFF)]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        chart = chartgen.generate("mysql", "mysql", flavor=args.flavor, output=Path(tmp) / "mysql").path
        for label, values in configs:
            print(f"{label}:", flush=True)
            results.append((label, run_config(helm, kube, kubeconfig, chart, {**base, **values}, args.runs, modes, ctx)))
    print(f"\n{args.flavor}, 3 pods, {args.runs} run(s) each: median (min-max) seconds from the delete/freeze to a "
          "write accepted through the primary Service; acknowledged writes lost")
    print("| configuration | install -> healthy | " + " | ".join(f"primary {m}" for m in modes) + " |")
    print("|---|---|" + "---|" * len(modes))
    for label, r in results:
        print(f"| {label} | {r['install']:.1f} | " + " | ".join(cell(r[m]) for m in modes) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
