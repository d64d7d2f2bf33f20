"""The failover bench: the e2e scenarios (tests/scenario.py: a driver's writer through the
chart's client Service, a fault of the catalogue, no acknowledged write lost), timed and repeated,
on the kind cluster built here (or an existing one), beside the most-used chart's settings.

    python -m tests.bench [--cluster kind|existing] [--drivers etcd,redis] [--faults pod-deleted,...]
                          [--runs 3] [--compare-faults pod-deleted,pod-frozen] [--keep] [--out docs/bench]

Per run: seconds from the fault until writes resume (the end of the longest gap between
acknowledged writes), that longest gap, acknowledged writes lost, seconds until the cluster is
settled again. Every driver and every fault by default (make bench). Not a test: speed figures
live here, the e2e suite keeps the correctness assertions.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path


def main() -> int:
    from tests.drivers import registry
    from tests.faults import FAULTS

    drivers, faults = registry(), FAULTS
    ap = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cluster", choices=["kind", "existing"], default="kind")
    ap.add_argument("--drivers", default=",".join(drivers))
    ap.add_argument("--faults", default=",".join(faults))
    ap.add_argument("--configs", default="defaults,bitnami")
    ap.add_argument("--compare-faults", default="pod-deleted,pod-frozen,leader-cut-off",
                    help="faults run with the most-used chart's settings too")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true",
                    help="keep the runs of OUT/results.json that this invocation does not measure again")
    ap.add_argument("--out", type=Path, default=Path("docs/bench"))
    args = ap.parse_args()

    import chartgen
    from chartgen.helm import Helm
    from tests import scenario
    from tests.bench import report
    from tests.drivers import Release
    from tests.faults import skip_reason
    from tests.kube import Cluster, Kube, kind_cluster

    if args.cluster == "kind":
        cluster = Cluster("kind", kind_cluster(keep=True))
    else:
        cluster = Cluster("existing", Path(os.environ["KUBECONFIG"]))
    kube, helm = Kube(cluster.kubeconfig), Helm(kubeconfig=cluster.kubeconfig, timeout="10m")
    kept = report.load(args.out) if args.keep else []
    outcomes, failed = [], []
    notes = {k: v.bitnami_note for k, v in drivers.items()}
    for name in args.drivers.split(","):
        d = drivers[name]
        if d.runnable(cluster):
            print(f"{name}: skipped: {d.runnable(cluster)}", flush=True)
            continue
        chart = chartgen.generate(d.preset, d.release, flavor=d.flavor, output=Path("/tmp/chartgen-bench") / name,
                                  force=True)
        for config in args.configs.split(","):
            chosen = [faults[f] for f in args.faults.split(",")]
            if config != "defaults":
                chosen = [f for f in chosen if f.name in args.compare_faults.split(",")]
            chosen = [f for f in chosen if not skip_reason(f, cluster, kube)]
            if not chosen:
                continue
            values = {**d.install_values(cluster), **(d.bitnami if config == "bitnami" else {})}
            r = Release(d, kube, helm, chart, f"bench-{name}-{config}", values)
            kube.delete_namespace(r.ns)   # a fresh namespace: an interrupted run leaves its release behind
            t0 = time.monotonic()
            r.upgrade()
            r.wait_settled(3, "install", timeout=600)
            print(f"{name} {config}: installed and settled in {time.monotonic() - t0:.1f}s", flush=True)
            for f in chosen:
                for n in range(args.runs):
                    try:
                        out = scenario.run(r, cluster, f, seq=n, config=config)
                    except AssertionError as err:   # a finding: told, the other runs go on, the exit code says it
                        print(f"  {f.name} run {n + 1}: FAILED: {err}", flush=True)
                        failed.append(f"{name} {config} {f.name} run {n + 1}: {err}")
                        continue
                    outcomes.append(out)
                    print(f"  {f.name:<20} run {n + 1}: {out.line()}", flush=True)
                    # after every run: a bench cut short keeps what it measured
                    report.write(report.merged(kept, outcomes), notes, args.out, meta(args))
            helm.uninstall(r.name, r.ns, wait=True)
            kube.delete_namespace(r.ns)
    for line in failed:
        print(f"FAILED: {line}", flush=True)
    return 1 if failed or any(o.lost for o in outcomes) else 0


def meta(args) -> dict:
    from tests.drivers import registry

    acked = "; ".join(f"{d.name}: {d.acknowledged}" for d in registry().values())
    return {"cluster": args.cluster, "runs": args.runs, "host": f"{platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"),
            "about": (f"`python -m tests.bench --cluster {args.cluster} --drivers {args.drivers} --faults {args.faults} "
                      f"--compare-faults {args.compare_faults} --runs {args.runs}"
                      + (f" --configs {args.configs}" if args.configs != "defaults,bitnami" else "")
                      + (" --keep" if args.keep else "")
                      + f"` on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}: 3 members each; an in-cluster "
                      "writer through the chart's client or primary Service, 3 s client timeout, counting only "
                      f"acknowledged writes ({acked}).")}


if __name__ == "__main__":
    sys.exit(main())
