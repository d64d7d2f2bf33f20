"""Failover figures for the redis chart, with real redis-server/redis-sentinel (needs root).

    .venv/bin/python -m tests.runtime.bench_redis_failover [--runs 5] [--skip-bitnami]

For the chart's defaults and for the same chart with Bitnami's default timings
(down-after 60 s, failover-timeout 180 s), on 3 pods in network namespaces (see
test_redis_members.py): seconds from install to healthy; seconds from the master's death
(SIGKILL: a crash or a lost node) to a new master that accepts a write; and seconds from a
graceful deletion (preStop hooks, then SIGTERM) to a writable new master. Medians of --runs.
Not a test (pytest does not collect it): it takes minutes with Bitnami's timings.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import chartgen
from chartgen.helm import Helm
from tests.runtime.netns import PodNetwork
from tests.runtime.redis_cluster import RedisPods

STS = "redis-node"
FQDN = "redis-node-{i}.redis-headless.default.svc.cluster.local"
BITNAMI = {"sentinel": {"downAfterMilliseconds": 60000, "failoverTimeout": 180000}}


def _writable_after(pods: RedisPods, old: int, t0: float, limit: float) -> tuple[float, int]:
    others = [i for i in range(3) if i != old]
    new = pods.wait("a writable new master", lambda: next((i for i in others if pods.writable(i)), None),
                    timeout=limit, interval=0.1)
    return time.monotonic() - t0, new


def measure(chart_path: Path, values: dict, runs: int, graceful: bool, limit: float) -> dict:
    objects = Helm().template(chart_path, "redis", "default", values)
    hosts = {f"{STS}-{i}": [FQDN.format(i=i)] for i in range(3)}
    out = {"install": None, "kill": [], "graceful": []}
    tmp = tempfile.mkdtemp(prefix="redis-bench-")
    slow = False
    with PodNetwork(hosts) as net:
        pods = RedisPods(objects, Path(tmp), net)
        t0 = time.monotonic()
        for i in range(3):
            pods.start(i)
        pods.wait("healthy", lambda: pods.healthy(range(3)), timeout=120)
        out["install"] = time.monotonic() - t0
        for kind in ("kill", "graceful") if graceful else ("kill",):
            for _ in range(runs):
                master = pods.wait("healthy", lambda: pods.healthy(range(3)), timeout=limit)
                t0 = time.monotonic()
                if kind == "kill":
                    pods.kill(master)
                else:
                    pods.stop(master)
                seconds, _new = _writable_after(pods, master, t0, limit)
                out[kind].append(seconds)
                print(f"  {kind:8} redis-node-{master} -> redis-node-{_new}: {seconds:.2f}s", flush=True)
                slow = slow or (kind == "graceful" and seconds > 10)
                pods.start(master)
    if slow:
        print(f"  (a slow handover: the pods' logs are kept in {tmp})")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-bitnami", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        chart = chartgen.generate("redis", "redis", output=Path(tmp) / "redis")
        configs = [("chart defaults (down-after 5 s, failover-timeout 10 s)", {}, True, 60)]
        if not args.skip_bitnami:
            configs.append(("Bitnami timings (down-after 60 s, failover-timeout 180 s)", BITNAMI, True, 400))
        for label, values, graceful, limit in configs:
            print(f"{label}:", flush=True)
            r = measure(chart.path, values, args.runs, graceful, limit)
            print(f"  install to healthy {r['install']:.1f}s; "
                  f"master killed -> writable master: median {statistics.median(r['kill']):.2f}s "
                  f"(min {min(r['kill']):.2f}, max {max(r['kill']):.2f})"
                  + (f"; graceful delete (preStop handover) -> writable master: median "
                     f"{statistics.median(r['graceful']):.2f}s" if r["graceful"] else ""), flush=True)


if __name__ == "__main__":
    main()
