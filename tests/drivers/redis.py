"""Redis (and Valkey) with Sentinel: a write is acknowledged when `SET` returned OK and the
following `WAIT 1 1000` answered >= 1 (a replica has it), through the <name>-master Service."""

from __future__ import annotations

import json
import shlex

from tests.drivers import PACE, STOP, Driver, Release

MASTER_SET = "mymaster"


class Redis(Driver):
    name = preset = release = "redis"
    leader_word = "master"
    sts_suffix = "-node"
    cli = "redis-cli"
    auth_env = "REDISCLI_AUTH"
    acknowledged = "SET answered OK and WAIT 1 1000 answered >= 1: a replica has the write"
    test_images = {"image": "redis", "kubectlImage": "kubectl"}
    upgrade_change = {"redis": {"extraConfig": "hz 11"}}
    bitnami = {"sentinel": {"downAfterMilliseconds": 60000, "failoverTimeout": 180000}}
    bitnami_note = "Sentinel timings as bitnami/redis: down-after 60 s, failover-timeout 180 s"

    def cmd(self, *args: str, host: str = "127.0.0.1", sentinel: bool = False, as_json: bool = False,
            secs: int = 5) -> str:
        """A client command line for `sh -c` in a pod; the password comes from the pod's env."""
        port, pw = (26379, "$SENTINEL_PASSWORD") if sentinel else (6379, "$REDIS_PASSWORD")
        h = f'"{host}"' if host.startswith("$") else shlex.quote(host)
        return (f'{self.auth_env}="{pw}" timeout {secs} {self.cli} --no-auth-warning -h {h} -p {port}'
                + (" --json" if as_json else "") + " " + shlex.join(args))

    def sh(self, r: Release, pod: str, script: str, timeout: int = 60) -> str:
        return r.kube.exec(r.ns, pod, "redis", ["sh", "-c", script], timeout=timeout)

    def json(self, r: Release, pod: str, *args: str, **kw):
        return json.loads(r.kube.exec(r.ns, pod, "redis", ["sh", "-c", self.cmd(*args, as_json=True, **kw)],
                                      stderr=False))

    def role(self, r: Release, pod: str) -> tuple[str, str | None]:
        """('master', None) or ('slave', <its master's host>), from ROLE on the pod's server."""
        got = self.json(r, pod, "ROLE")
        return (got[0], None) if got[0] == "master" else (got[0], got[1])

    def sentinel_named(self, r: Release, pod: str) -> str | None:
        got = self.json(r, pod, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_SET, sentinel=True)
        return got[0] if got else None

    def fqdn(self, r: Release, pod: str) -> str:
        return f"{pod}.{r.name}-headless.{r.ns}.svc.cluster.local"

    def settled(self, r: Release, n: int) -> str | None:
        """Exactly one pod labelled master and exactly one whose ROLE is master, the same; every
        other pod a replica of it, labelled so; every sentinel names it."""
        pods = r.pods(n)
        labels = r.kube.labelled(r.ns, r.selector, "chartgen.io/role")
        labelled = [p for p, role in labels.items() if role == "master"]
        roles = {p: self.role(r, p) for p in pods}
        masters = [p for p, (role, _) in roles.items() if role == "master"]
        if len(labelled) != 1 or masters != labelled:
            return None
        m = masters[0]
        if any(roles[p] != ("slave", self.fqdn(r, m)) or labels.get(p) != "replica" for p in pods if p != m):
            return None
        if any(self.sentinel_named(r, p) != self.fqdn(r, m) for p in pods):
            return None
        return m

    def check_members(self, r: Release, n: int) -> None:
        """Every sentinel knows exactly the n-1 other pods as replicas and the n-1 other
        sentinels (a sentinel never forgets one by itself: the agents reset it), with the
        majority as its quorum; the master links exactly the n-1 replicas."""
        def agree() -> bool:
            m = self.settled(r, n)
            if not m:
                return False
            want = sorted(self.fqdn(r, p) for p in r.pods(n) if p != m)
            for p in r.pods(n):
                info = self.json(r, p, "SENTINEL", "MASTER", MASTER_SET, sentinel=True)
                info = info if isinstance(info, dict) else dict(zip(info[::2], info[1::2]))
                reps = self.json(r, p, "SENTINEL", "REPLICAS", MASTER_SET, sentinel=True)
                sens = self.json(r, p, "SENTINEL", "SENTINELS", MASTER_SET, sentinel=True)
                names = sorted((x if isinstance(x, dict) else dict(zip(x[::2], x[1::2])))["name"].split(":")[0]
                               for x in reps)
                if names != want or len(sens) != n - 1 or int(info["quorum"]) != n // 2 + 1:
                    return False
            return sorted(x[0] for x in self.json(r, m, "ROLE")[2]) == want
        r.kube.wait(f"{n} pods: sentinels that know exactly each other, quorum {n // 2 + 1}", agree, timeout=120,
                    interval=2)

    def calm(self, r: Release) -> bool:
        """No sentinel in TILT mode: a thawed sentinel saw its clock jump and acts on nothing for
        30 s (Sentinel's own rule); a fault in that window would measure TILT, not the chart."""
        for pod in r.kube.ready_names(r.ns, r.selector):
            if "sentinel_tilt:0" not in self.sh(r, pod, self.cmd("INFO", "sentinel", sentinel=True)):
                return False
        return True

    def writer(self, r: Release):
        script = f"""
i=0
while [ ! -e {STOP} ]; do
  i=$((i + 1))
  out=$(printf 'SET w:%s:%s %s\\nWAIT 1 1000\\n' "$RUN" "$i" "$i" |
        {self.auth_env}="$PASSWORD" timeout 3 {self.cli} --no-auth-warning -h "$MASTER" -p 6379 2>/dev/null | tr -d '\\r')
  case $out in OK*) acked=${{out##*
}}; [ "${{acked:-0}}" -ge 1 ] 2>/dev/null && echo "$i $(date +%s.%N)" ;; esac
  sleep {PACE}
done
"""
        return "image", script, {"MASTER": f"{r.name}-master.{r.ns}.svc.cluster.local",
                                 "PASSWORD": {"secret": f"{r.name}-auth", "key": "redis-password"}}

    def read_back(self, r: Release, run: str, pod: str | None = None) -> set[int]:
        pod = pod or self.leader(r) or r.pod(0)
        out = self.sh(r, pod, self.cmd("--scan", "--pattern", f"w:{run.replace('-', '_')}:*", secs=30))
        return {int(k.rsplit(":", 1)[1]) for k in out.split() if k.startswith("w:")}


class Valkey(Redis):
    """The redis preset's valkey flavor: the official Valkey image, valkey-server/-sentinel/-cli."""
    name = release = "valkey"
    flavor = "valkey"
    flavor_of = "redis"
    cli = "valkey-cli"
    test_images = {"image": "valkey", "kubectlImage": "kubectl"}
