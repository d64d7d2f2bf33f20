"""The etcd chart's pods as processes (tests/infra/pods.py), plus etcd's own clients.

Each "pod" runs the rendered bootstrap init container to completion, then the etcd container
(the official image's stand-in: etcd, etcdctl, etcdutl built from their Go modules, no shell)
and the agent sidecar (the tools image's: bash-static as /bin/sh, etcd, etcdctl, no coreutils).
etcdctl runs in the agent's container, as `kubectl exec` would run it.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.infra.pods import Pods


class EtcdPods(Pods):
    def bootstrap(self, ordinal: int, fresh_data: bool = False) -> subprocess.CompletedProcess:
        """Only the init container (e.g. to see it refuse to start)."""
        self.materialize(ordinal, fresh_data)
        return self.run(ordinal, "bootstrap", init=True, timeout=400)

    def config(self, ordinal: int) -> str:
        path = self.env(ordinal, "bootstrap", init=True)["CONFIG_FILE"]
        return self.host_path(ordinal, "bootstrap", path, init=True).read_text()

    # -- clients (in the agent container, where the FQDNs resolve) ----------------------
    def ctl(self, ordinal: int, *args: str, endpoints: str | None = None, timeout: float = 30,
            check: bool = True) -> subprocess.CompletedProcess:
        """etcdctl with the agent container's environment (credentials in ETCDCTL_USER)."""
        env = self.env(ordinal, "agent")
        if env.get("ROOT_PASSWORD"):
            env["ETCDCTL_USER"] = f"root:{env['ROOT_PASSWORD']}"
        proc = self.run(ordinal, "agent", ["etcdctl", f"--endpoints={endpoints or self.client_url(ordinal)}", *args],
                        env=env, timeout=timeout)
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
