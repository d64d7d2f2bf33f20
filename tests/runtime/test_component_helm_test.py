"""The component chart's helm test (files/test-component.sh) in its image's shell and tools
(DEBIAN_IMAGE's stand-in root: dash, bash, getent, timeout), with the environment the rendered test
pod gives it, against real listeners: it passes when the Service and every pod answer on every
port, and fails naming what does not (a closed port, a name that does not resolve)."""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest

import chartgen
from chartgen.helm import Helm
from tests.infra import roots


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    chart = chartgen.generate("component", "web", type="stateful-multi", image="ghcr.io/acme/web:1",
                              ports=["http=8080", "admin=9000"], output=tmp_path_factory.mktemp("c") / "web")
    objects = Helm().template(chart.path, "web", "apps", {"replicaCount": 2})
    (pod,) = [o for o in objects if o["kind"] == "Pod"]
    (c,) = pod["spec"]["containers"]
    assert c["command"] == ["/bin/sh", "/scripts/test-component.sh"]
    return chart, {e["name"]: e["value"] for e in c["env"]}


class Listener:
    """A TCP port on 127.0.0.1 that accepts and closes connections."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()

    def close(self):
        self.sock.close()


def closed_port() -> int:
    """A port nothing listens on (bound once, never listened, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(chart, env, **overrides):
    full = {**env, "SCRIPTS_DIR": "/scripts", "RESOLVE_SECONDS": "2", "TRIES": "2", **overrides}
    return roots.run("debian", ["/bin/sh", "/scripts/test-component.sh"], env=full,
                     volumes={"/scripts": chart.path / "files"}, timeout=120)


def test_the_rendered_environment(rendered):
    _, env = rendered
    assert env["SERVICE"] == "web.apps.svc.cluster.local" and env["PORTS"] == "8080 9000"
    assert env["PEERS"].split() == ["web-0.web-headless.apps.svc.cluster.local",
                                    "web-1.web-headless.apps.svc.cluster.local"]


def test_passes_when_the_service_and_every_pod_answer(rendered):
    chart, env = rendered
    a, b = Listener(), Listener()
    try:
        proc = run(chart, env, SERVICE="localhost", PORTS=f"{a.port} {b.port}", PEERS="localhost localhost")
    finally:
        a.close(), b.close()
    assert proc.returncode == 0, proc.stderr
    assert f"OK: the Service and 2 pod(s) by FQDN answer on port(s) {a.port} {b.port}" in proc.stderr


def test_fails_naming_a_closed_port_and_an_unresolvable_pod(rendered):
    chart, env = rendered
    a, closed = Listener(), closed_port()
    try:
        proc = run(chart, env, SERVICE="localhost", PORTS=f"{a.port} {closed}", PEERS="localhost nope.invalid")
    finally:
        a.close()
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert f"FAIL: Service:{closed} localhost:{closed} nope:unresolvable" in last, proc.stderr


def test_a_stateless_chart_checks_the_service_only(rendered):
    chart, env = rendered
    a = Listener()
    try:
        proc = run(chart, {k: v for k, v in env.items() if k != "PEERS"}, SERVICE="localhost", PORTS=str(a.port))
    finally:
        a.close()
    assert proc.returncode == 0 and f"OK: the Service answers on port(s) {a.port}" in proc.stderr, proc.stderr
