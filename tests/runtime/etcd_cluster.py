"""Run the etcd chart's pods as processes: one network namespace and directory per pod.

Each "pod" runs the rendered init container (bootstrap.sh) to completion, then the etcd
container and the agent sidecar, with the command lines and environments the rendered
StatefulSet gives that pod (podspec.RenderedPod). Images are emulated by PATH: the tools
containers find the built etcdctl, the etcd container's /usr/local/bin/etcd is the built etcd.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from chartgen.versions import pin
from tests.runtime.netns import PodNetwork
from tests.runtime.podspec import RenderedPod
from tests.waiting import wait_for

CACHE = Path(os.environ.get("CHARTGEN_CACHE", Path.home() / ".cache" / "chartgen"))
ETCD_BIN = CACHE / "bin" / f"etcd-{pin('ETCD_VERSION')}"


def etcd_binaries() -> Path:
    if not (ETCD_BIN / "etcd").is_file():
        subprocess.run(["sh", "tools/build-etcd.sh"], check=True, cwd=Path(__file__).parents[2],
                       stdout=subprocess.DEVNULL)
    return ETCD_BIN


class EtcdPods:
    def __init__(self, objects: list[dict[str, Any]], workdir: Path, net: PodNetwork):
        self.objects = objects
        self.workdir = workdir
        self.net = net
        self.bin = etcd_binaries()
        sts = next(o for o in objects if o["kind"] == "StatefulSet")
        self.fullname = sts["metadata"]["name"]

    def render(self, objects: list[dict[str, Any]]) -> None:
        """A helm upgrade: later starts see the new objects (ConfigMaps, Secrets)."""
        self.objects = objects

    def pod(self, ordinal: int) -> RenderedPod:
        return RenderedPod(self.objects, ordinal, self.workdir / f"{self.fullname}-{ordinal}",
                           binaries={"/usr/local/bin/etcd": str(self.bin / "etcd")})

    def _path_env(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "PATH": f"{self.bin}:/usr/bin:/bin"}

    def bootstrap(self, ordinal: int, fresh_data: bool = False) -> subprocess.CompletedProcess:
        pod = self.pod(ordinal)
        pod.materialize(fresh_data=fresh_data)
        init = pod.container("bootstrap", init=True)
        return self.net.run(pod.name, init.argv, self._path_env(init.env), timeout=400)

    def start(self, ordinal: int, fresh_data: bool = False) -> subprocess.CompletedProcess:
        """Start pod ORDINAL like the kubelet: init to completion, then etcd + agent."""
        pod = self.pod(ordinal)
        init = self.bootstrap(ordinal, fresh_data)
        log = self.workdir / f"{pod.name}.log"
        with open(log, "a") as fh:
            fh.write(f"--- bootstrap rc={init.returncode}\n{init.stdout}{init.stderr}")
        if init.returncode != 0:
            return init
        etcd = pod.container("etcd")
        pod.map_file(Path(pod.container("bootstrap", init=True).env["CONFIG_FILE"]), etcd)
        agent = pod.container("agent")
        launch = (
            shlex.join(["env", "-i", *(f"{k}={v}" for k, v in self._path_env(agent.env).items()), *agent.argv])
            + " & exec "
            + shlex.join(["env", "-i", *(f"{k}={v}" for k, v in etcd.env.items()), *etcd.argv])
        )
        self.net.start(pod.name, ["/bin/sh", "-c", launch], env={}, log_path=str(log))
        return init

    def config(self, ordinal: int) -> str:
        pod = self.pod(ordinal)
        return Path(pod.container("bootstrap", init=True).env["CONFIG_FILE"]).read_text()

    def kill(self, ordinal: int, sig: int = signal.SIGKILL) -> None:
        self.net.kill(f"{self.fullname}-{ordinal}", sig)

    # -- clients (run inside a pod's namespace, where the FQDNs resolve) ----------------
    def ctl(self, ordinal: int, *args: str, endpoints: str | None = None, timeout: float = 30,
            check: bool = True) -> subprocess.CompletedProcess:
        pod = self.pod(ordinal)
        env = self._path_env(pod.container("agent").env)
        ep = endpoints or self.client_url(ordinal)
        # timeouts come from the pod's ETCDCTL_* env (etcdctl refuses a flag that shadows one)
        argv = [str(self.bin / "etcdctl"), f"--endpoints={ep}", *args]
        if env.get("ROOT_PASSWORD"):
            argv.insert(1, f"--user=root:{env['ROOT_PASSWORD']}")
        proc = self.net.run(pod.name, argv, env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"etcdctl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def client_url(self, ordinal: int) -> str:
        env = self.pod(ordinal).container("agent").env
        return (f"{env['CLIENT_SCHEME']}://{self.fullname}-{ordinal}.{env['PEER_SERVICE']}."
                f"{env['NAMESPACE']}.svc.{env['CLUSTER_DOMAIN']}:{env['CLIENT_PORT']}")

    def members(self, via: int, endpoints: str | None = None) -> list[dict[str, Any]]:
        out = self.ctl(via, "member", "list", "-w", "json", endpoints=endpoints).stdout
        return json.loads(out).get("members", [])

    def status(self, ordinal: int) -> dict[str, Any] | None:
        proc = self.ctl(ordinal, "endpoint", "status", "-w", "json", check=False)
        if proc.returncode != 0:
            return None
        return json.loads(proc.stdout)[0]["Status"]

    def leader(self, ordinals: list[int]) -> int | None:
        """Ordinal of the member every live member reports as leader (None if no agreement)."""
        ids = {}
        for i in ordinals:
            st = self.status(i)
            if st:
                ids[i] = (st["header"]["member_id"], st.get("leader", 0))
        leaders = {lead for _, lead in ids.values()}
        if len(leaders) != 1 or 0 in leaders:
            return None
        lead = leaders.pop()
        return next((i for i, (mid, _) in ids.items() if mid == lead), None)

    def wait(self, what: str, cond, timeout: float = 60, interval: float = 0.5):
        return wait_for(what, cond, timeout, interval, details=self._logs)

    def _logs(self) -> str:
        return "\n".join(f"== {p.name}\n" + p.read_text()[-2500:] for p in sorted(self.workdir.glob("*.log")))
