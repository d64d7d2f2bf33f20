"""make bench-cluster: python -m tests.bench [--cluster local] [--presets etcd,redis] [--runs 3]
[--faults delete,freeze,all,rolling] [--compare-faults delete,freeze] [--out docs/bench]"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

from tests.bench import presets, report
from tests.bench.run import Bench


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench")
    ap.add_argument("--cluster", choices=["local", "existing"], default="local")
    ap.add_argument("--presets", default=",".join(presets.PRESETS))
    ap.add_argument("--faults", default="delete,freeze,all,rolling")
    ap.add_argument("--configs", default="defaults,bitnami")
    ap.add_argument("--compare-faults", default=None,
                    help="faults run with the most-used chart's settings too (default: every fault)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true",
                    help="keep the runs of OUT/results.json that this invocation does not measure again")
    ap.add_argument("--out", type=Path, default=Path("docs/bench"))
    args = ap.parse_args()

    import chartgen
    from chartgen.helm import Helm
    from tests.e2e.kube import Kube

    if args.cluster == "local":
        from localkube import cluster as localkube

        from tests.e2e.images import preset_values

        kubeconfig = Path(localkube.up())
        images = preset_values(localkube.load_image)
    else:
        kubeconfig, images = Path(os.environ["KUBECONFIG"]), {}
        if "freeze" in args.faults:
            raise SystemExit("--faults freeze needs the node's cgroups: use --cluster local or leave freeze out")
    kube, helm = Kube(kubeconfig), Helm(kubeconfig=kubeconfig, timeout="10m")
    runs = []
    kept = kept_runs(args) if args.keep else []
    workdir = Path("/tmp/chartgen-bench")
    for name in args.presets.split(","):
        p = presets.PRESETS[name]
        chart = chartgen.generate(name, name, flavor=p.flavor, output=workdir / name, force=True).path
        for config in args.configs.split(","):
            faults = args.faults.split(",")
            if config != "defaults" and args.compare_faults:
                faults = [f for f in faults if f in args.compare_faults.split(",")]
            if not faults:
                continue
            ns = f"chartgen-bench-{name}-{config}"
            bench = Bench(kube, helm, chart, p, images.get(p.image_key or name, {}), ns)
            t0 = time.monotonic()
            bench.install(config)
            print(f"{name} {config}: installed and healthy in {time.monotonic() - t0:.1f}s", flush=True)
            for fault in faults:
                for n in range(args.runs):
                    r = bench.run(fault, config, n)
                    runs.append(r)
                    print(f"  {fault:<8} run {n + 1}: writes resume after {r.resume_s:6.2f}s, longest gap "
                          f"{r.longest_gap_s:6.2f}s, all ready after {r.ready_s:6.1f}s, "
                          f"{r.acked} acknowledged, {r.lost} lost", flush=True)
            bench.uninstall()
        every = merged(kept, runs)  # after every preset: a cut-short run keeps what it measured
        write(args, every, {r.preset: presets.PRESETS[r.preset].bitnami_note for r in every})
    lost = sum(r.lost for r in runs)
    return 1 if lost else 0


def kept_runs(args) -> list:
    """The runs recorded in OUT/results.json (--keep)."""
    import json

    from tests.bench.run import Run

    path = args.out / "results.json"
    return [Run(**r) for r in json.loads(path.read_text())["runs"]] if path.exists() else []


def merged(kept: list, runs: list) -> list:
    """KEPT without the scenarios (preset, configuration, fault) measured again in RUNS, then RUNS."""
    again = {(r.preset, r.config, r.fault) for r in runs}
    return [r for r in kept if (r.preset, r.config, r.fault) not in again] + runs


def write(args, runs, notes) -> None:
    meta = {"cluster": args.cluster, "runs": args.runs, "host": f"{platform.machine()}, {os.cpu_count()} cores",
            "date": time.strftime("%Y-%m-%d"),
            "about": (f"`python -m tests.bench --cluster {args.cluster} --presets {args.presets} --runs {args.runs}"
                      + (f" --compare-faults {args.compare_faults}" if args.compare_faults else "")
                      + (" --keep" if args.keep else "")
                      + f"` on {os.cpu_count()} cores, "
                      f"{time.strftime('%Y-%m-%d')}: 3 members each; an in-cluster writer through the chart's "
                      "client or primary Service, 3 s client timeout, counting only acknowledged writes "
                      "(etcd `put`; Redis `SET` + `WAIT 1 1000` >= 1; MySQL/MariaDB `INSERT` committed with lossless semi-sync).")}
    path = report.write(runs, notes, args.out, meta)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
