"""The redis chart's pods as processes (tests/infra/pods.py), plus the engine's own client.

Each "pod" runs its rendered containers — redis (start-redis.sh -> the server), sentinel
(start-sentinel.sh -> the sentinel) and the agent — in its image's stand-in (Debian trixie's
redis-server, redis-sentinel and redis-cli 8.0, or valkey-server, valkey-sentinel and valkey-cli
8.1, on a userland pruned to the official image's). Not run: the kubectl sidecar (no Kubernetes
API here); the agent then skips its labels and only records the role it sees, which the tests
read. The client runs in the pod's redis container, as `kubectl exec` would run it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.infra.netns import PodNetwork
from tests.infra.pods import Pods


class RedisPods(Pods):
    def __init__(self, objects: list[dict[str, Any]], workdir: Path, net: PodNetwork, engine: str = "redis"):
        self.engine = engine   # redis | valkey: the flavor's programs (<engine>-server, -sentinel, -cli)
        # no Kubernetes API here: the kubectl sidecar does not run (role labels are off,
        # the agent still records the role it sees)
        super().__init__(objects, workdir, net, skip_images=("KUBECTL_IMAGE",))
        sts = next(o for o in objects if o["kind"] == "StatefulSet")
        env = {e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
        self.master_set = env["MASTER_SET"]

    def ordinal_of(self, host: str | None) -> int | None:
        return self.peers.index(host) if host in self.peers else None

    def env(self, ordinal: int, container: str = "redis") -> dict[str, str]:
        return super().env(ordinal, container)

    # -- clients, run inside a pod's namespace where the FQDNs resolve ----------------------
    def cli(self, via: int, *args: str, host: str | None = None, sentinel: bool = False,
            auth: bool = True, timeout: float = 10) -> subprocess.CompletedProcess:
        env = self.env(via)
        port = env["SENTINEL_PORT" if sentinel else "SERVER_PORT"]
        run_env = {"PATH": env["PATH"], "REDISCLI_HISTFILE": "/dev/null"}
        password = env.get("SENTINEL_PASSWORD" if sentinel else "REDIS_PASSWORD")
        if auth and password:
            run_env["REDISCLI_AUTH"] = password
        argv = [f"{self.engine}-cli", "-h", host or "127.0.0.1", "-p", port, *args]
        return self.run(via, "redis", argv, env=run_env, timeout=timeout)

    def out(self, via: int, *args: str, **kw) -> str:
        proc = self.cli(via, *args, **kw)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    def role(self, ordinal: int) -> list[str]:
        """ROLE of pod ORDINAL's redis-server as lines ([] when it does not answer)."""
        if not self.net.alive(self.name(ordinal)):
            return []
        out = self.out(ordinal, "ROLE", timeout=5)
        return out.splitlines() if out.split("\n")[0] in ("master", "slave") else []

    def masters(self, ordinals) -> list[int]:
        return [i for i in ordinals if self.role(i)[:1] == ["master"]]

    def sentinel_master(self, ordinal: int) -> str | None:
        if not self.net.alive(self.name(ordinal)):
            return None
        out = self.out(ordinal, "SENTINEL", "get-master-addr-by-name", self.master_set, sentinel=True, timeout=5)
        return out.splitlines()[0] if out else None

    def sentinel_info(self, ordinal: int) -> dict[str, str]:
        lines = self.out(ordinal, "SENTINEL", "MASTER", self.master_set, sentinel=True).splitlines()
        return dict(zip(lines[0::2], lines[1::2]))

    def agent_role(self, ordinal: int) -> str | None:
        path = self.workdir / self.name(ordinal) / "volumes" / "agent" / "role"
        return path.read_text().strip() if path.is_file() else None

    def healthy(self, ordinals) -> int | None:
        """The master's ordinal when ORDINALS hold one master, every other one a replica of it
        with its link up, and every sentinel among them names it; else None."""
        roles = {i: self.role(i) for i in ordinals}
        masters = [i for i, r in roles.items() if r[:1] == ["master"]]
        if len(masters) != 1:
            return None
        m = masters[0]
        for i, r in roles.items():
            if i != m and not (r[:1] == ["slave"] and r[1] == self.fqdn(m) and r[3] == "connected"):
                return None
        if any(self.sentinel_master(i) != self.fqdn(m) for i in ordinals):
            return None
        return m

    def writable(self, ordinal: int, key: str = "chartgen:probe") -> bool:
        return self.out(ordinal, "SET", key, "1", timeout=2) == "OK"

