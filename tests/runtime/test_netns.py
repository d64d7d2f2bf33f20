"""The PodNetwork harness itself, for real: namespaces, names, processes, cleanup.

Needs root and iproute2 (as on the project's machines and in CI).
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.infra import netns

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or netns.shutil.which("ip") is None,
    reason="PodNetwork needs root and iproute2",
)

PY = sys.executable
HOSTS = {
    "web-0": ["web-0.web-headless.default.svc.cluster.local", "web-0.web-headless", "web-0"],
    "web-1": ["web-1.web-headless.default.svc.cluster.local", "web-1.web-headless", "web-1"],
}


def _leftovers(ident):
    """Everything of PodNetwork ID still present on the host."""
    found = [ns for ns in netns._netns_names() if ns.startswith(f"cg{ident}-")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    found += [l.split(":")[1].strip() for l in links.splitlines() if f"cg{ident}" in l]
    if os.path.isdir(netns.NETNS_ETC):
        found += [d for d in os.listdir(netns.NETNS_ETC) if d.startswith(f"cg{ident}-")]
    if os.path.isdir(netns.STATE_DIR):
        for name in os.listdir(netns.STATE_DIR):
            with open(os.path.join(netns.STATE_DIR, name)) as f:
                if f.read().startswith(ident):
                    found.append(name)
    return found


def _fetch(net, pod, url, timeout=20):
    code = f"import urllib.request,sys; sys.stdout.write(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    return net.run(pod, [PY, "-c", code], timeout=timeout)


def test_http_by_fqdn_between_pods(tmp_path):
    with open("/etc/hosts") as f:
        host_hosts = f.read()
    (tmp_path / "hello.txt").write_text("hello from web-0\n")
    with netns.PodNetwork(HOSTS) as net:
        assert net.ip_of("web-0") != net.ip_of("web-1")
        assert net.ns_of("web-0") in netns._netns_names()
        assert len(net.bridge) <= 15 and all(len(net._veth(p)) <= 15 for p in HOSTS)
        net.start("web-0", [PY, "-m", "http.server", "8080", "--bind", "0.0.0.0"],
                  env={}, log_path=str(tmp_path / "web-0.log"), cwd=str(tmp_path))
        net.wait_tcp("web-0", 8080)  # the host reaches pods on the bridge
        for name in HOSTS["web-0"]:
            res = _fetch(net, "web-1", f"http://{name}:8080/hello.txt")
            assert res.returncode == 0, res.stderr
            assert res.stdout == "hello from web-0\n"
        # Names resolve inside every namespace, through its own hosts file.
        res = net.run_in("web-1", ["getent", "hosts", HOSTS["web-0"][0]])
        assert res.stdout.split()[0] == net.ip_of("web-0")
        res = net.run_in("web-0", ["getent", "hosts", "web-0"])
        assert res.stdout.split()[0] == net.ip_of("web-0")
        # No default route: traffic stays on the bridge.
        routes = net.run_in("web-1", ["ip", "-4", "route"]).stdout
        assert "default" not in routes and f"{net.subnet}.0/24" in routes
        # The server logged the requests to its log file.
        assert "GET /hello.txt" in (tmp_path / "web-0.log").read_text()
    with open("/etc/hosts") as f:
        assert f.read() == host_hosts
    assert _leftovers(net.id) == []


def test_start_gets_exactly_the_given_env(tmp_path):
    log = tmp_path / "env.log"
    with netns.PodNetwork({"p-0": []}) as net:
        proc = net.start("p-0", ["env"], env={"FOO": "bar baz"}, log_path=str(log))
        assert proc.popen.wait(10) == 0
        lines = sorted(log.read_text().splitlines())
        assert lines == ["FOO=bar baz", f"PATH={netns.DEFAULT_PATH}"]
        res = net.run("p-0", ["sh", "-c", "echo $FOO; cat /etc/resolv.conf"], env={"FOO": "x"})
        assert res.stdout.startswith("x\n") and "nameserver" not in res.stdout


def test_kill_alive_and_restart(tmp_path):
    with netns.PodNetwork({"a-0": [], "b-0": []}) as net:
        assert not net.alive("a-0") and net.kill("a-0") is None
        # A child in the same process group dies with the leader.
        net.start("a-0", ["sh", "-c", "sleep 300 & exec sleep 301"],
                  env={}, log_path=str(tmp_path / "a.log"))
        net.start("b-0", ["sleep", "300"], env={}, log_path=str(tmp_path / "b.log"))
        deadline = time.monotonic() + 10
        while len(subprocess.run(["ip", "netns", "pids", net.ns_of("a-0")], capture_output=True,
                                 text=True).stdout.split()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert net.alive("a-0") and net.alive("b-0")
        with pytest.raises(netns.NetnsError):
            net.start("a-0", ["sleep", "1"], env={})
        assert net.kill("a-0") == -signal.SIGKILL
        assert not net.alive("a-0") and net.alive("b-0")
        pids = subprocess.run(["ip", "netns", "pids", net.ns_of("a-0")],
                              capture_output=True, text=True).stdout.split()
        assert pids == []
        # SIGTERM is honoured; the pod can run a new process afterwards.
        assert net.kill("b-0", signal.SIGTERM) == -signal.SIGTERM
        net.start("b-0", ["sleep", "300"], env={})
        assert net.alive("b-0")
    # Processes still running at exit are killed.
    assert net.process("b-0").returncode == -signal.SIGKILL
    assert _leftovers(net.id) == []


def test_cleanup_after_failure_in_block():
    with pytest.raises(ZeroDivisionError):
        with netns.PodNetwork({"x-0": ["x-0.x"]}) as net:
            net.start("x-0", ["sleep", "300"], env={})
            1 / 0
    assert not net.process("x-0").alive()
    assert _leftovers(net.id) == []


def test_cleanup_stale_of_crashed_run():
    # A run that dies without cleaning up (SIGKILL, power loss, ...).
    code = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {os.path.dirname(netns.__file__)!r})
        import netns
        net = netns.PodNetwork({{"s-0": [], "s-1": []}}).__enter__()
        net.start("s-0", ["sleep", "300"], env={{}})
        print(net.id, flush=True)
        os._exit(0)
    """)
    res = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    ident = res.stdout.strip()
    assert len(_leftovers(ident)) >= 5  # 2 namespaces, 2 dirs, bridge+veths, record
    # A live run is not touched by another run's cleanup.
    with netns.PodNetwork({"l-0": []}) as live:
        netns.cleanup_stale()
        assert _leftovers(ident) == []
        assert live.ns_of("l-0") in netns._netns_names()
        assert live.run("l-0", ["true"]).returncode == 0
    assert _leftovers(live.id) == []


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        netns.PodNetwork({"Bad_Name": []})
    with pytest.raises(ValueError):
        netns.PodNetwork({"a": ["same"], "b": ["same"]})
    with netns.PodNetwork({"a": []}) as net:
        with pytest.raises(KeyError):
            net.ip_of("nope")
        with pytest.raises(ValueError):
            net.run("a", ["true"], env={"A=B": "c"})
