"""Run the redis chart's pods as processes: one network namespace and directory per pod.

Each "pod" runs its rendered containers — redis (start-redis.sh -> redis-server), sentinel
(start-sentinel.sh -> redis-sentinel) and the agent — with the command lines, environments and
volumes the rendered StatefulSet gives that pod (podspec.RenderedPod). The Redis image is
emulated by PATH: Debian's redis-server, redis-sentinel and redis-cli in /usr/bin stand in for
the official image's /usr/local/bin. Not emulated: the copy-kubectl init container and the
service account token (no Kubernetes API here); the agent then skips its labels and only
records the role it sees, which the tests read.
"""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.runtime.netns import PodNetwork
from tests.runtime.podspec import RenderedPod
from tests.waiting import wait_for

PATH = "/usr/local/bin:/usr/bin:/bin"
PACKAGES = ("redis-server", "redis-sentinel", "redis-tools")


def ensure_redis() -> None:
    """Debian's redis-server and redis-sentinel (the repo's host-deps script installs them)."""
    if all(shutil.which(b) for b in ("redis-server", "redis-sentinel", "redis-cli")):
        return
    root = Path(__file__).resolve().parents[2]
    subprocess.run(["sh", "tools/install-host-deps.sh"], check=True, cwd=root)


class RedisPods:
    def __init__(self, objects: list[dict[str, Any]], workdir: Path, net: PodNetwork):
        ensure_redis()
        self.objects = objects
        self.workdir = workdir
        self.net = net
        sts = next(o for o in objects if o["kind"] == "StatefulSet")
        self.sts = sts["metadata"]["name"]
        env = {e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
        self.peers = env["PEERS"].split()
        self.master_set = env["MASTER_SET"]

    def render(self, objects: list[dict[str, Any]]) -> None:
        """A helm upgrade: later starts see the new objects."""
        self.objects = objects

    def name(self, ordinal: int) -> str:
        return f"{self.sts}-{ordinal}"

    def fqdn(self, ordinal: int) -> str:
        return self.peers[ordinal]

    def ordinal_of(self, host: str | None) -> int | None:
        return self.peers.index(host) if host in self.peers else None

    def pod(self, ordinal: int) -> RenderedPod:
        return RenderedPod(self.objects, ordinal, self.workdir / self.name(ordinal))

    def env(self, ordinal: int, container: str = "redis") -> dict[str, str]:
        return {**self.pod(ordinal).container(container).env, "PATH": PATH}

    def log(self, ordinal: int) -> Path:
        return self.workdir / f"{self.name(ordinal)}.log"

    def start(self, ordinal: int, fresh_data: bool = False) -> None:
        """Start pod ORDINAL like the kubelet: every container at once (no init to wait for)."""
        pod = self.pod(ordinal)
        pod.materialize(fresh_data=fresh_data)
        containers = [c["name"] for c in pod.spec["containers"]]
        parts = []
        for name in containers:
            c = pod.container(name)
            env = {**c.env, "PATH": PATH}
            parts.append(shlex.join(["env", "-i", *(f"{k}={v}" for k, v in env.items()), *c.argv]))
        # the redis container is the pod's lifeline; the others run beside it
        launch = " & ".join(parts[1:]) + " & exec " + parts[0]
        self.net.start(self.name(ordinal), ["/bin/sh", "-c", launch], env={}, log_path=str(self.log(ordinal)))

    def kill(self, ordinal: int, sig: int = signal.SIGKILL) -> None:
        self.net.kill(self.name(ordinal), sig)

    def stop(self, ordinal: int) -> str:
        """Delete the pod like the kubelet: every container's preStop hook at once, then SIGTERM."""
        pod = self.pod(ordinal)
        out: dict[str, subprocess.CompletedProcess] = {}

        def hook(name: str) -> None:
            argv = pod.handler(name, "preStop")
            if argv:
                out[name] = self.net.run(self.name(ordinal), argv, self.env(ordinal, name), timeout=60)

        threads = [threading.Thread(target=hook, args=(c["name"],)) for c in pod.spec["containers"]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.kill(ordinal, signal.SIGTERM)
        return "".join(p.stdout + p.stderr for p in out.values())

    def pid(self, ordinal: int, title: str) -> int:
        """PID of the process in pod ORDINAL whose command line (process title) starts with TITLE."""
        ns = self.net.ns_of(self.name(ordinal))
        for tok in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
            try:
                cmdline = Path(f"/proc/{tok}/cmdline").read_text()
            except OSError:
                continue
            if cmdline.startswith(title):
                return int(tok)
        raise LookupError(f"no process {title!r} in {self.name(ordinal)}")

    # -- clients, run inside a pod's namespace where the FQDNs resolve ----------------------
    def cli(self, via: int, *args: str, host: str | None = None, sentinel: bool = False,
            auth: bool = True, timeout: float = 10) -> subprocess.CompletedProcess:
        env = self.env(via)
        port = env["SENTINEL_PORT" if sentinel else "SERVER_PORT"]
        run_env = {"PATH": PATH, "REDISCLI_HISTFILE": "/dev/null"}
        password = env.get("SENTINEL_PASSWORD" if sentinel else "REDIS_PASSWORD")
        if auth and password:
            run_env["REDISCLI_AUTH"] = password
        argv = ["redis-cli", "-h", host or "127.0.0.1", "-p", port, *args]
        return self.net.run(self.name(via), argv, run_env, timeout=timeout)

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

    def wait(self, what: str, cond, timeout: float = 60, interval: float = 0.25):
        # results such as 0 (an ordinal) count: only None, False and [] mean "not yet"
        return wait_for(what, cond, timeout, interval,
                        accept=lambda r: r is not None and r is not False and r != [],
                        details=lambda: "\n".join(f"== {p.name}\n" + p.read_text()[-3000:]
                                                  for p in sorted(self.workdir.glob("*.log"))))
