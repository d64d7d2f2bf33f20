"""The mysql chart's pods as processes (tests/runtime/pods.py), with a real Kubernetes API.

Each "pod" runs its rendered containers with the tools of their image (tests/images: Debian's
mariadbd, mariadb, mariadb-backup, mbstream and socat stand in for the official MariaDB
image's), as the pod's uid (999, in a user namespace: mariadbd refuses to run as root): the
server (start.sh), the agent, the donor and the kubectl sidecar. The sidecar runs for real:
`kubectl proxy` on 127.0.0.1 in the pod's network namespace, configured by a kubeconfig holding
a token of the release's ServiceAccount, against the API server of the local cluster
(localkube), so the agent's Lease, its role labels and the Role's limits are the real thing.
That cluster knows no such pods: each member gets a Pod object that is never scheduled (a
scheduling gate), which the agents label and the tests mark as being deleted (a finalizer keeps
it) when a scale-down removes it.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from tests.infra.netns import PodNetwork
from tests.infra.pods import Pods

PACKAGES = ("mariadb-server", "mariadb-backup", "socat")
FINALIZER = "chartgen.io/runtime-test"


def ensure_mariadb() -> None:
    """Debian's mariadb-server, mariadb-backup and socat (the repo's host-deps script installs them)."""
    if all(shutil.which(b) for b in ("mariadbd", "mariadb", "mariadb-backup", "mbstream", "socat")):
        return
    root = Path(__file__).resolve().parents[2]
    subprocess.run(["sh", "tools/install-host-deps.sh"], check=True, cwd=root)


class Api:
    """A namespace of the local cluster's API server, the release's RBAC objects and a
    kubeconfig for its ServiceAccount."""

    def __init__(self, workdir: Path):
        from localkube import cluster

        self.cluster = cluster
        self.admin = cluster.up()
        self.namespace = f"chartgen-rt-mysql-{secrets.token_hex(3)}"
        self.workdir = workdir
        admin = yaml.safe_load(Path(self.admin).read_text())
        self.server = admin["clusters"][0]["cluster"]["server"]
        entry = admin["clusters"][0]["cluster"]
        self.ca = (base64.b64decode(entry["certificate-authority-data"]) if "certificate-authority-data" in entry
                   else Path(entry["certificate-authority"]).read_bytes())
        self.kubectl("create", "namespace", self.namespace)
        # pods are refused until the controller manager made the namespace's "default"
        # ServiceAccount: seconds on a cluster that has just started (a cold run)
        deadline = time.monotonic() + 120
        while "serviceaccount/default" not in self.kubectl("get", "serviceaccounts", "--namespace", self.namespace,
                                                          "-o", "name", check=False):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no default ServiceAccount in {self.namespace} after 120 s")
            time.sleep(0.5)

    @property
    def host(self) -> str:
        return self.server.split("//", 1)[1].rsplit(":", 1)[0]

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.cluster.kubectl(*args, input=input, check=check)

    def apply(self, objects: list[dict[str, Any]], kinds=("ServiceAccount", "Role", "RoleBinding", "Lease")) -> None:
        """The rendered objects the agents need (helm would create them)."""
        chosen = [o for o in objects if o["kind"] in kinds]
        self.kubectl("apply", "-n", self.namespace, "-f", "-", input=yaml.safe_dump_all(chosen))

    def sa_kubeconfig(self, service_account: str) -> Path:
        token = self.kubectl("create", "token", service_account, "-n", self.namespace, "--duration=3h").strip()
        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "local", "cluster": {
                "server": self.server, "certificate-authority-data": base64.b64encode(self.ca).decode()}}],
            "users": [{"name": service_account, "user": {"token": token}}],
            "contexts": [{"name": "sa", "context": {"cluster": "local", "user": service_account,
                                                     "namespace": self.namespace}}],
            "current-context": "sa",
        }
        path = self.workdir / "sa-kubeconfig.yaml"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    # -- Pod objects of the members (never scheduled) ---------------------------------------
    def placeholder(self, name: str) -> None:
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": self.namespace, "finalizers": [FINALIZER]},
               "spec": {"schedulingGates": [{"name": "chartgen.io/never"}],
                        "containers": [{"name": "c", "image": "localhost/none:never"}]}}
        self.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def mark_deleting(self, name: str) -> None:
        """The pod is being deleted (deletionTimestamp set; the finalizer keeps it)."""
        self.kubectl("delete", "pod", name, "-n", self.namespace, "--wait=false")

    def unmark(self, name: str) -> None:
        """A new Pod object of the same name (after mark_deleting)."""
        self.kubectl("patch", "pod", name, "-n", self.namespace, "--type=json",
                     "-p", '[{"op":"remove","path":"/metadata/finalizers"}]', check=False)
        for _ in range(100):
            if not self.kubectl("get", "pod", name, "-n", self.namespace, "--ignore-not-found", "-o", "name"):
                break
            time.sleep(0.1)
        self.placeholder(name)

    def labels(self, names: list[str]) -> dict[str, str | None]:
        out = json.loads(self.kubectl("get", "pods", "-n", self.namespace, "-o", "json"))
        got = {p["metadata"]["name"]: (p["metadata"].get("labels") or {}).get("chartgen.io/role") for p in out["items"]}
        return {n: got.get(n) for n in names}

    def lease(self, name: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", "lease", name, "-n", self.namespace, "-o", "json"))

    def close(self) -> None:
        items = self.kubectl("get", "pods", "-n", self.namespace, "-o", "name", check=False).split()
        for item in items:
            self.kubectl("patch", item, "-n", self.namespace, "--type=json",
                         "-p", '[{"op":"remove","path":"/metadata/finalizers"}]', check=False)
        self.kubectl("delete", "namespace", self.namespace, "--wait=false", check=False)


class MySQLPods(Pods):
    def __init__(self, objects: list[dict[str, Any]], workdir: Path, net: PodNetwork, api: Api,
                 record: tuple[str, ...] = ()):
        ensure_mariadb()
        sa = next(o for o in objects if o["kind"] == "ServiceAccount")["metadata"]["name"]
        api.apply(objects)
        self.api = api
        kubeconfig = api.sa_kubeconfig(sa)
        super().__init__(objects, workdir, net, record=record, as_pod_user=True,
                         extra_env={"KUBECTL_IMAGE": {"KUBECONFIG": str(kubeconfig)}})
        for pod in net.pods:  # the pods reach the API server through the bridge
            subprocess.run(["ip", "-n", net.ns_of(pod), "route", "replace", f"{api.host}/32", "via", net.host_ip],
                           check=True)
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

    def after_init(self, ordinal: int, pod) -> None:
        """my.cnf names the pod's mount paths (datadir, socket): map them to the pod's directories."""
        server = pod.container("mysql")
        for path in (pod.dir / "volumes" / "config").glob("*.cnf"):
            path.chmod(0o644)
            pod.map_file(path, server)

    def start(self, ordinal: int, fresh_data: bool = False):
        self.api.placeholder(self.name(ordinal))
        return super().start(ordinal, fresh_data)

    # -- clients, run inside a pod's namespace where the FQDNs resolve ---------------------
    def client_file(self) -> Path:
        path = self.workdir / "root-client.cnf"
        if not path.exists():
            path.write_text(f'[client]\nuser=root\npassword="{self.root_password}"\nport={self.port}\n'
                            "connect-timeout=3\n")
            path.chmod(0o600)
        return path

    def sql(self, ordinal: int, query: str, via: int | None = None, timeout: float = 10,
            host: str | None = None) -> subprocess.CompletedProcess:
        """QUERY as root@'%' on pod ORDINAL's server (by FQDN), from pod VIA's namespace."""
        via = ordinal if via is None else via
        argv = ["mariadb", f"--defaults-extra-file={self.client_file()}", "-h", host or self.fqdn(ordinal),
                "-N", "-B", "-e", query]
        return self.net.run(self.name(via), argv, {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}, timeout=timeout)

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
            proc = self.net.run(self.name(ordinal), ["mariadb", f"--defaults-extra-file={self.client_file()}", "-h",
                                                     self.fqdn(ordinal), "-E", "-e", "SHOW REPLICA STATUS"],
                                {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}, timeout=10)
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
        return {int(x) for x in (out or "").split()}

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
