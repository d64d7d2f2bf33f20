"""A bare Kubernetes API server for member-level tests: kube-apiserver + etcd as processes of
this machine, as controller-runtime's envtest runs them (no controllers, no kubelet, no
scheduler). Real objects, real RBAC, real compare-and-swap on resourceVersion, real
ServiceAccount tokens (TokenRequest): what the charts' agents use (Leases, their pods' labels).

    with ApiServer() as api:                  # listens on ADDRESS (added to lo), a free port
        ns = api.namespace("mysql-rt")        # namespace + its default ServiceAccount
        ns.apply(objects)                     # rendered ServiceAccount, Role, RoleBinding, ...
        ns.token_files("mysql")               # the projected token volume of a pod of that SA

Pods in network namespaces reach it at ADDRESS through their bridge (netns.PodNetwork's
``host_names``: "kube-apiserver" resolves to the bridge's address, which the serving
certificate names). No controller runs: a namespace's "default" ServiceAccount is made here, a
deleted namespace stays Terminating (the server goes away with the test).
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from . import shelf

NAME = "kube-apiserver"   # the name pods use for it (a host name of their network)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {proc.stderr.strip()}")


class ApiServer:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="chartgen-apiserver-"))
        self.port = _free_port()
        self.admin_token = secrets.token_hex(16)
        self.procs: list[subprocess.Popen] = []

    # -- start / stop ---------------------------------------------------------------------
    def __enter__(self) -> "ApiServer":
        try:
            self._pki()
            etcd_port, peer_port = _free_port(), _free_port()
            self._start("etcd", [str(shelf.path("etcd")), "--data-dir", str(self.dir / "etcd"),
                                 "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
                                 "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
                                 "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
                                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
                                 "--initial-cluster", f"default=http://127.0.0.1:{peer_port}",
                                 "--unsafe-no-fsync", "--log-level", "warn"])
            (self.dir / "tokens.csv").write_text(f"{self.admin_token},admin,admin,system:masters\n")
            self._start(NAME, [str(shelf.path("kube-apiserver")), f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                               "--bind-address=0.0.0.0", f"--secure-port={self.port}",
                               "--advertise-address=127.0.0.1",
                               f"--tls-cert-file={self.dir / 'server.crt'}", f"--tls-private-key-file={self.dir / 'server.key'}",
                               f"--token-auth-file={self.dir / 'tokens.csv'}", "--authorization-mode=RBAC",
                               "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                               f"--service-account-key-file={self.dir / 'sa.pub'}",
                               f"--service-account-signing-key-file={self.dir / 'sa.key'}",
                               "--service-cluster-ip-range=10.0.0.0/24", "--enable-priority-and-fairness=false",
                               "--profiling=false", "--v=0"])
            self._write_kubeconfig()
            self._wait_ready(120)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _pki(self) -> None:
        d = self.dir
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
                 "-days", "2", "-subj", "/CN=chartgen-test-ca", cwd=d)
        (d / "san.cnf").write_text("subjectAltName=DNS:kube-apiserver,DNS:localhost,DNS:kubernetes,"
                                   "DNS:kubernetes.default.svc,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
                 "-subj", "/CN=kube-apiserver", cwd=d)
        _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", "server.crt", "-days", "2", "-extfile", "san.cnf", cwd=d)
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=d)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.dir / f"{name}.log", "ab")
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True))

    def _wait_ready(self, timeout: float) -> None:
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.crt"))
        req = urllib.request.Request(f"https://127.0.0.1:{self.port}/readyz",
                                     headers={"Authorization": f"Bearer {self.admin_token}"})
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                break
            try:
                with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError as err:
                last = err
            time.sleep(0.5)
        logs = "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-2000:] for p in self.dir.glob("*.log"))
        raise RuntimeError(f"the API server was not ready within {timeout}s ({last}):\n{logs}")

    @contextlib.contextmanager
    def unreachable(self):
        """The API server hangs (SIGSTOP) inside the block: connections open, no request is
        answered, as for clients behind a dropped route; it answers again after."""
        server = next(p for p in self.procs if NAME in Path(p.args[0]).name)
        os.killpg(server.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(server.pid, signal.SIGCONT)

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, 15)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, 9)
                    p.wait()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- clients ----------------------------------------------------------------------------
    @property
    def ca(self) -> str:
        return (self.dir / "ca.crt").read_text()

    def _write_kubeconfig(self) -> None:
        self.kubeconfig = self.dir / "admin.kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "admin",
            "clusters": [{"name": "test", "cluster": {"server": f"https://127.0.0.1:{self.port}",
                                                      "certificate-authority-data": base64.b64encode(
                                                          self.ca.encode()).decode()}}],
            "users": [{"name": "admin", "user": {"token": self.admin_token}}],
            "contexts": [{"name": "admin", "context": {"cluster": "test", "user": "admin"}}]}))

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        proc = subprocess.run([str(shelf.path("kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
                              input=input, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def namespace(self, prefix: str) -> "Namespace":
        return Namespace(self, f"{prefix}-{secrets.token_hex(3)}")


class Namespace:
    """A namespace of the API server, as the tests of one release use it."""

    def __init__(self, api: ApiServer, name: str):
        self.api, self.name = api, name
        api.kubectl("create", "namespace", name)
        # what the controller manager would make: the default ServiceAccount, the root CA ConfigMap
        api.kubectl("create", "serviceaccount", "default", "-n", name)
        api.kubectl("create", "configmap", "kube-root-ca.crt", "-n", name, f"--from-literal=ca.crt={api.ca}")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.api.kubectl(*args, "--namespace", self.name, input=input, check=check)

    def apply(self, objects: list[dict[str, Any]], kinds=("ServiceAccount", "Role", "RoleBinding", "Lease")) -> None:
        """The rendered objects of KINDS (what helm would create)."""
        chosen = [o for o in objects if o["kind"] in kinds]
        if chosen:
            self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(chosen))

    def service_env(self) -> dict[str, str]:
        """What the kubelet puts in every container: where the API server is."""
        return {"KUBERNETES_SERVICE_HOST": NAME, "KUBERNETES_SERVICE_PORT": str(self.api.port)}

    def token_files(self, service_account: str = "default") -> dict[str, str]:
        """The projected service account volume of a pod running as SERVICE_ACCOUNT."""
        token = self.kubectl("create", "token", service_account, "--duration=3h").strip()
        return {"token": token, "ca.crt": self.api.ca, "namespace": self.name}

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", kind, name, "-o", "json"))
