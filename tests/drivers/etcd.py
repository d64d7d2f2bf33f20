"""etcd: Raft; a write is acknowledged when `etcdctl put` returns (committed by a quorum)."""

from __future__ import annotations

import base64
import json
import shlex
from typing import Any

from tests.drivers import STOP, Driver, Release

AS_ROOT = 'if [ -n "${ROOT_PASSWORD:-}" ]; then export ETCDCTL_USER="root:$ROOT_PASSWORD"; fi; '

# bash-static and etcdctl only (the tools image): $EPOCHREALTIME stands in for `date`
WRITER = f"""
{AS_ROOT}
i=0
while [ ! -e {STOP} ]; do
  i=$((i + 1))
  if etcdctl --endpoints="$ENDPOINT" --dial-timeout=1s --command-timeout=3s put "w/$RUN/$i" "$i" >/dev/null 2>&1
  then echo "$i $EPOCHREALTIME"; fi
done
"""


class Etcd(Driver):
    name = preset = release = "etcd"
    acknowledged = "etcdctl put returned OK: the write is committed by a quorum (Raft)"
    test_images = {"image": "etcd", "toolsImage": "etcd-tools", "kubectlImage": "kubectl"}
    values = {"auth": {"enabled": True}}
    upgrade_change = {"etcd": {"snapshotCount": 5000}}
    # the e2e suite's three releases keep this machine's 2 cores busy: a member waiting for a CPU
    # misses the default 100 ms heartbeats and the leader is lost again and again (seen in a cold
    # run: requests and helm tests timed out); etcd's tuning guide raises both on a loaded host
    # (election >= 10 heartbeats). The bench runs the chart's defaults.
    e2e_values = {"etcd": {"heartbeatInterval": 250, "electionTimeout": 2500}}
    # bitnami/etcd: probes start after 60 s, every 10 s, 6 failures before a member leaves
    bitnami = {"readinessProbe": {"initialDelaySeconds": 60, "periodSeconds": 10, "timeoutSeconds": 5,
                                  "failureThreshold": 6},
               "livenessProbe": {"initialDelaySeconds": 60, "periodSeconds": 30, "timeoutSeconds": 5,
                                 "failureThreshold": 5}}
    bitnami_note = "probes as bitnami/etcd: first after 60 s, readiness every 10 s, 6 failures"

    def ctl(self, r: Release, pod: str, *args: str, timeout: int = 60) -> str:
        """etcdctl in POD's agent container (the tools image), as root when auth is on."""
        script = AS_ROOT + "exec etcdctl --endpoints=http://127.0.0.1:2379 " + shlex.join(args)
        return r.kube.exec(r.ns, pod, "agent", ["sh", "-c", script], timeout=timeout, stderr=False)

    def members(self, r: Release, via: str) -> list[dict[str, Any]]:
        return json.loads(self.ctl(r, via, "member", "list", "-w", "json"))["members"]

    def voters(self, r: Release, via: str) -> list[str]:
        return sorted(m["name"] for m in self.members(r, via) if not m.get("isLearner"))

    def leader(self, r: Release) -> str | None:
        for via in r.kube.ready_names(r.ns, r.selector):
            try:
                status = json.loads(self.ctl(r, via, "endpoint", "status", "--cluster", "-w", "json"))
                names = {m["ID"]: m.get("name") for m in self.members(r, via)}
            except Exception:  # noqa: BLE001 - that member is down: ask the next
                continue
            leaders = {s["Status"]["leader"] for s in status}
            if len(leaders) == 1:
                return names.get(leaders.pop())
        return None

    def settled(self, r: Release, n: int) -> str | None:
        via = r.pod(0)
        if self.voters(r, via) != r.pods(n) or len(self.members(r, via)) != n:
            return None
        return self.leader(r)

    def writer(self, r: Release):
        return "toolsImage", WRITER, {"ENDPOINT": f"http://{r.name}.{r.ns}.svc.cluster.local:2379",
                                      "ROOT_PASSWORD": {"secret": f"{r.name}-auth", "key": "root-password"}}

    def read_back(self, r: Release, run: str, pod: str | None = None) -> set[int]:
        pod = pod or self.leader(r) or r.pod(0)
        out = json.loads(self.ctl(r, pod, "get", f"w/{run.replace('-', '_')}/", "--prefix", "--keys-only",
                                  "--consistency=s", "-w", "json"))
        return {int(base64.b64decode(kv["key"]).decode().rsplit("/", 1)[1]) for kv in out.get("kvs", [])}
