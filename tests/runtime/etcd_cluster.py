"""The etcd chart's pods as processes (tests/runtime/pods.py), plus etcd's own clients.

Each "pod" runs the rendered bootstrap init container to completion, then the etcd container
and the agent sidecar. The images' tools stand in by toolbox: etcd, etcdctl and etcdutl built
from their Go modules; the tools image's shell is Debian's bash-static, with no coreutils.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from chartgen.versions import pin
from tests.images.toolbox import cache_dir
from tests.runtime.pods import Pods

ROOT = Path(__file__).resolve().parents[2]


def etcd_binaries() -> Path:
    out = cache_dir() / "bin" / f"etcd-{pin('ETCD_VERSION')}"
    if not (out / "etcd").is_file():
        subprocess.run(["sh", "tools/build-etcd.sh"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return out


class EtcdPods(Pods):
    def bootstrap(self, ordinal: int, fresh_data: bool = False) -> subprocess.CompletedProcess:
        """Only the init container (e.g. to see it refuse to start)."""
        self.pod(ordinal).materialize(fresh_data=fresh_data)
        return self.run(ordinal, "bootstrap", init=True, timeout=400)

    def after_init(self, ordinal: int, pod) -> None:
        # the config file bootstrap wrote names mount paths: point them at this pod's dirs
        pod.map_file(Path(pod.container("bootstrap", init=True).env["CONFIG_FILE"]), pod.container("etcd"))

    def config(self, ordinal: int) -> str:
        return Path(self.pod(ordinal).container("bootstrap", init=True).env["CONFIG_FILE"]).read_text()

    # -- clients (run inside a pod's namespace, where the FQDNs resolve) ----------------
    def ctl(self, ordinal: int, *args: str, endpoints: str | None = None, timeout: float = 30,
            check: bool = True) -> subprocess.CompletedProcess:
        """etcdctl with the agent container's environment (credentials in ETCDCTL_USER)."""
        env = self.env(ordinal, "agent")
        argv = ["etcdctl", f"--endpoints={endpoints or self.client_url(ordinal)}", *args]
        if env.get("ROOT_PASSWORD"):
            env["ETCDCTL_USER"] = f"root:{env['ROOT_PASSWORD']}"
        proc = self.net.run(self.name(ordinal), [str(Path(env["PATH"]) / "etcdctl"), *argv[1:]], env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"etcdctl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def client_url(self, ordinal: int) -> str:
        env = self.env(ordinal, "agent")
        return f"{env['CLIENT_SCHEME']}://{self.fqdn(ordinal)}:{env['CLIENT_PORT']}"

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
