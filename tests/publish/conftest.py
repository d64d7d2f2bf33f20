"""Fixtures for package/publish/push/install: an isolated helm home, a Helm repository served
over HTTP on 127.0.0.1, a real OCI registry (Debian's docker-registry) on 127.0.0.1, and a
Kubernetes cluster when one is given."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from chartgen.helm import Helm

HELM_HOME_VARS = ("HELM_REPOSITORY_CONFIG", "HELM_REPOSITORY_CACHE", "HELM_CONFIG_HOME", "HELM_CACHE_HOME",
                  "HELM_DATA_HOME", "HELM_REGISTRY_CONFIG")

@pytest.fixture(scope="session", autouse=True)
def helm_home(tmp_path_factory):
    """Every helm run of these tests (in-process and in subprocesses) uses a throwaway home,
    so the user's repositories, cache and registry logins are neither read nor touched."""
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        "HELM_REPOSITORY_CONFIG": str(home / "config" / "repositories.yaml"),
        "HELM_REPOSITORY_CACHE": str(home / "cache" / "repository"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_REGISTRY_CONFIG": str(home / "config" / "registry" / "config.json"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        yield home


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """The real helm CLI (the binary chartgen uses), in the isolated home."""
    proc = subprocess.run([Helm().executable, *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def chartgen(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chartgen", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=900)


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The CLI failed with exactly one line on stderr that names every needle."""
    assert proc.returncode != 0, proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# -- an HTTP server on 127.0.0.1 ----------------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def serve():
    """serve(DIR) -> http://127.0.0.1:PORT serving DIR (python's http.server in a thread)."""
    servers = []

    def start(directory: Path):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
        server.requests = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# -- a real OCI registry on 127.0.0.1 -------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _registry_binary() -> str:
    found = shutil.which("docker-registry") or ("/usr/bin/docker-registry" if Path("/usr/bin/docker-registry").is_file() else None)
    if not found:
        pytest.fail("docker-registry is not installed: run `make host-deps` (Debian package docker-registry)")
    return found


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """Debian's docker-registry (distribution v2) started here, on 127.0.0.1:<free port>, with its
    own config and filesystem storage in a temp dir (the package's service is not used)."""
    binary = _registry_binary()
    root = tmp_path_factory.mktemp("registry")
    for attempt in range(3):
        port = free_port()
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
        log = open(root / "registry.log", "ab")
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            proc.kill()
            proc.wait()
            continue
        try:
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
        return
    pytest.fail(f"docker-registry did not start; see {root / 'registry.log'}")


# -- a Kubernetes cluster, when one is given --------------------------------------------------
@pytest.fixture(scope="session")
def cluster(request):
    """(kubeconfig, values that make the etcd chart run there), on the cluster --cluster chose
    (tests/kube.py: kind, built here, or existing); skipped without one."""
    from tests.kube import open_cluster

    c = open_cluster(request)
    return c.kubeconfig, c.images({"image": "etcd", "toolsImage": "etcd-tools", "kubectlImage": "kubectl"})
