"""The mysql chart's pods as processes (tests/infra/pods.py), with a real Kubernetes API.

Each "pod" runs its rendered containers in the MariaDB image's stand-in (Debian trixie's
mariadbd, mariadb, mariadb-backup, mbstream and socat, MariaDB 11.8, on a userland pruned to the
official image's tools), as the pod's uid (999): the server (start.sh), the agent, the donor and
the kubectl sidecar. The sidecar runs for real: `kubectl proxy` on 127.0.0.1 in the pod's network
namespace, with the in-cluster configuration a pod gets (a token of the release's
ServiceAccount, the CA, KUBERNETES_SERVICE_HOST/PORT) against a bare API server
(tests/infra/apiserver.py), so the agent's Lease, its role labels and the Role's limits are the
real thing. No kubelet runs: each member gets a Pod object that is never scheduled (a scheduling
gate), which the agents label and the tests mark as being deleted (a finalizer keeps it) when a
scale-down removes it.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.infra.apiserver import Namespace
from tests.infra.netns import PodNetwork
from tests.infra.pods import Pods

FINALIZER = "chartgen.io/runtime-test"


class MemberApi(Namespace):
    """The release's namespace, with Pod objects standing for the members (never scheduled)."""

    def placeholder(self, name: str) -> None:
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": self.name, "finalizers": [FINALIZER]},
               "spec": {"schedulingGates": [{"name": "chartgen.io/never"}],
                        "containers": [{"name": "c", "image": "localhost/none:never"}]}}
        self.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def mark_deleting(self, name: str) -> None:
        """The pod is being deleted (deletionTimestamp set; the finalizer keeps it)."""
        self.kubectl("delete", "pod", name, "--wait=false")

    def unmark(self, name: str) -> None:
        """A new Pod object of the same name (after mark_deleting)."""
        self.kubectl("patch", "pod", name, "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]',
                     check=False)
        for _ in range(100):
            if not self.kubectl("get", "pod", name, "--ignore-not-found", "-o", "name"):
                break
            time.sleep(0.1)
        self.placeholder(name)

    def labels(self, names: list[str]) -> dict[str, str | None]:
        out = json.loads(self.kubectl("get", "pods", "-o", "json"))
        got = {p["metadata"]["name"]: (p["metadata"].get("labels") or {}).get("chartgen.io/role") for p in out["items"]}
        return {n: got.get(n) for n in names}

    def lease(self, name: str) -> dict[str, Any]:
        return self.get("lease", name)


class MySQLPods(Pods):
    def __init__(self, objects: list[dict[str, Any]], workdir: Path, net: PodNetwork, api: MemberApi,
                 record: tuple[str, ...] = ()):
        api.apply(objects)
        super().__init__(objects, workdir, net, record=record, api=api)
        env = self.env(0, "mysql")
        self.lease_name = env["LEASE_NAME"]
        self.root_password = env["ROOT_PASSWORD"]
        self.port = env["SERVER_PORT"]

    def render(self, objects: list[dict[str, Any]]) -> None:
        """A helm upgrade. helm template draws new passwords (no lookup); an upgrade keeps the
        Secret, so the new objects get the old one."""
        kept = {o["metadata"]["name"]: o for o in self.objects if o["kind"] == "Secret"}
        objects = [kept.get(o["metadata"]["name"], o) if o["kind"] == "Secret" else o for o in objects]
        super().render(objects)
        self.api.apply(objects)  # a scale changes the Role's pod names

    def start(self, ordinal: int, fresh_data: bool = False):
        self.api.placeholder(self.name(ordinal))
        return super().start(ordinal, fresh_data)

    # -- clients, run inside a pod's namespace where the FQDNs resolve ---------------------
    def client_env(self) -> dict[str, str]:
        """root@'%' for the client: the password in the environment, never on its command line."""
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "MYSQL_PWD": self.root_password}

    def client(self, host: str, *args: str) -> list[str]:
        return ["mariadb", "--user=root", f"--port={self.port}", "--connect-timeout=3", "-h", host, *args]

    def sql(self, ordinal: int, query: str, via: int | None = None, timeout: float = 10,
            host: str | None = None) -> subprocess.CompletedProcess:
        """QUERY as root@'%' on pod ORDINAL's server (by FQDN), from pod VIA's mysql container."""
        via = ordinal if via is None else via
        return self.run(via, "mysql", self.client(host or self.fqdn(ordinal), "-N", "-B", "-e", query),
                        env=self.client_env(), timeout=timeout)

    def out(self, ordinal: int, query: str, **kw) -> str | None:
        """QUERY's output, None when it failed."""
        if not self.net.alive(self.name(ordinal)) and "host" not in kw:
            return None
        try:
            proc = self.sql(ordinal, query, **kw)
        except subprocess.TimeoutExpired:
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    def writable(self, ordinal: int) -> bool:
        return self.out(ordinal, "SELECT @@read_only", timeout=5) == "0"

    def writables(self, ordinals) -> list[int]:
        return [i for i in ordinals if self.writable(i)]

    def replica(self, ordinal: int) -> dict[str, str]:
        """SHOW REPLICA STATUS of pod ORDINAL ({} when not a replica or not answering)."""
        try:
            proc = self.run(ordinal, "mysql", self.client(self.fqdn(ordinal), "-E", "-e", "SHOW REPLICA STATUS"),
                            env=self.client_env(), timeout=10)
            text = proc.stdout if proc.returncode == 0 else ""
        except subprocess.TimeoutExpired:
            text = ""
        fields = {}
        for line in (text or "").splitlines():
            if ": " in line:
                k, v = line.split(": ", 1)
                fields[k.strip()] = v.strip()
        return fields

    def gtid(self, ordinal: int) -> str | None:
        return self.out(ordinal, "SELECT @@gtid_current_pos")

    def holder(self) -> str | None:
        return self.api.lease(self.lease_name)["spec"].get("holderIdentity")

    def ready(self, ordinal: int) -> bool:
        argv = self.pod(ordinal).handler("mysql", "readinessProbe")
        return self.run(ordinal, "mysql", argv, timeout=30).returncode == 0

    def healthy(self, ordinals) -> int | None:
        """The primary's ordinal when ORDINALS hold exactly one writable member that holds the
        Lease and every other one replicates from it with both threads running; else None."""
        ordinals = list(ordinals)
        writable = self.writables(ordinals)
        if len(writable) != 1:
            return None
        p = writable[0]
        if self.holder() != self.name(p):
            return None
        for i in ordinals:
            if i == p:
                continue
            r = self.replica(i)
            if r.get("Master_Host") != self.fqdn(p) or r.get("Slave_IO_Running") != "Yes" or \
                    r.get("Slave_SQL_Running") != "Yes":
                return None
        return p

    def count(self, ordinal: int, table: str = "t.acked") -> int | None:
        out = self.out(ordinal, f"SELECT COUNT(*) FROM {table}")
        return int(out) if out is not None and out.isdigit() else None

    def ids(self, ordinal: int, table: str = "t.acked") -> set[int]:
        out = self.out(ordinal, f"SELECT id FROM {table}", timeout=30)
        # an unanswered query is never 'no rows' (two silent members would compare equal)
        assert out is not None, f"{self.name(ordinal)} did not answer SELECT id FROM {table}"
        return {int(x) for x in out.split()}

    def agent_log(self, ordinal: int) -> str:
        return self.log(ordinal).read_text()


class Writer(threading.Thread):
    """Writes rows with autocommit through HOST (a member's FQDN, or whoever is primary),
    one connection per statement, from pod VIA's namespace, and keeps the ids whose commit
    returned OK: under lossless semi-sync, the acknowledged writes."""

    def __init__(self, pods: MySQLPods, via: int, start: int, seconds: float, target=None):
        super().__init__(daemon=True)
        self.pods, self.via, self.next, self.seconds = pods, via, start, seconds
        self.target = target or (lambda: pods.holder())
        self.acked: set[int] = set()
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline and not self.stop.is_set():
            try:
                holder = self.target()
            except Exception:  # noqa: BLE001 - the API may hiccup
                holder = None
            i = self.next
            self.next += 1
            if not holder:
                self.failed += 1
                time.sleep(0.05)
                continue
            host = holder if "." in holder else self.pods.fqdn(int(holder.rsplit("-", 1)[1]))
            try:
                proc = self.pods.sql(self.via, f"INSERT INTO t.acked (id) VALUES ({i})", host=host, timeout=20)
                ok = proc.returncode == 0
            except subprocess.TimeoutExpired:
                ok = False
            if ok:
                self.acked.add(i)
            else:
                self.failed += 1
                time.sleep(0.05)
