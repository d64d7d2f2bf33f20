"""Pods without Kubernetes: one Linux network namespace per "pod" on a private bridge.

Member-level runtime tests start real servers (etcd, ...) as processes, each in
its own network namespace with its own IP, and make the pods' DNS names (FQDNs as
a StatefulSet behind a headless Service would get, short names) resolve inside
every namespace. The host's own /etc/hosts is never touched: `ip netns exec NS`
bind-mounts /etc/netns/NS/hosts and /etc/netns/NS/resolv.conf over /etc/ for the
command it runs, so clients that need the names must run inside a namespace too
(see PodNetwork.run_in).

Layout of one PodNetwork with id ID (6 hex digits):
  bridge         cgIDbr, address 10.213.X.1/24 (the host can reach every pod)
  namespace      cgID-POD, eth0 = 10.213.X.(i+2)/24, lo up, no default route
  host veth      cgIDhI (peer is eth0 in the namespace), enslaved to the bridge
  files          /etc/netns/cgID-POD/{hosts,resolv.conf}
  owner record   /run/chartgen-netns/net-X = "ID PID STARTTIME" (also reserves X)

Needs root and iproute2's `ip`; stdlib only.

    with PodNetwork({"etcd-0": ["etcd-0.etcd-headless.default.svc.cluster.local"]}) as net:
        net.start("etcd-0", ["/path/etcd", ...], env={}, log_path="etcd-0.log")
        net.run_in("etcd-0", ["etcdctl", "endpoint", "health"])
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

PREFIX = "cg"
STATE_DIR = "/run/chartgen-netns"
NETNS_ETC = "/etc/netns"
SUBNET_BASE = "10.213"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Everything a PodNetwork creates matches one of these (ID = 6 hex digits).
_NS_RE = re.compile(rf"^{PREFIX}([0-9a-f]{{6}})-")
_LINK_RE = re.compile(rf"^{PREFIX}([0-9a-f]{{6}})(br|h\d+)$")
_POD_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class NetnsError(RuntimeError):
    pass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and res.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {res.stderr.strip() or res.returncode}")
    return res


def _proc_start_time(pid: int) -> Optional[str]:
    """Start time of a process (field 22 of /proc/PID/stat), None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _owner_alive(record: str) -> bool:
    parts = record.split()
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    return _proc_start_time(int(parts[1])) == parts[2]


def _netns_names() -> List[str]:
    res = _ip("netns", "list", check=False)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def _kill_netns_pids(ns: str) -> None:
    """SIGKILL every process still inside namespace NS (they would keep it alive)."""
    res = _ip("netns", "pids", ns, check=False)
    for tok in res.stdout.split():
        try:
            os.kill(int(tok), signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


def _bridge_nf_active() -> bool:
    """True if bridged traffic goes through iptables (br_netfilter), where a
    FORWARD policy of DROP (set by dockerd, for one) would cut pods apart."""
    try:
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _forward_rule(bridge: str) -> List[str]:
    return ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT"]


def _iptables(*args: str) -> bool:
    if shutil.which("iptables") is None:
        return False
    return subprocess.run(["iptables", "-w", *args], capture_output=True).returncode == 0


def cleanup_stale() -> List[str]:
    """Best effort: remove what crashed PodNetworks left behind.

    A PodNetwork id is stale when its owner record is missing or names a process
    that is gone; ids of live runs (parallel test sessions) are left alone.
    Returns the names of the things removed.
    """
    # Look at the resources first, the owner records second: a run writes its
    # record before it creates anything, so no resource of a live run is missed.
    namespaces = [ns for ns in _netns_names() if _NS_RE.match(ns)]
    links = []
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and _LINK_RE.match(parts[1].strip().split("@")[0]):
            links.append(parts[1].strip().split("@")[0])
    etc_dirs = [d for d in (os.listdir(NETNS_ETC) if os.path.isdir(NETNS_ETC) else [])
                if _NS_RE.match(d)]
    live = set()
    removed: List[str] = []
    for name in os.listdir(STATE_DIR) if os.path.isdir(STATE_DIR) else []:
        path = os.path.join(STATE_DIR, name)
        try:
            with open(path) as f:
                record = f.read()
        except OSError:
            continue
        if _owner_alive(record):
            live.add(record.split()[0])
        else:
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
    for ns in namespaces:
        if _NS_RE.match(ns).group(1) not in live:
            _kill_netns_pids(ns)
            _ip("netns", "del", ns, check=False)
            removed.append(f"netns {ns}")
    for name in links:
        m = _LINK_RE.match(name)
        if m.group(1) not in live:
            _ip("link", "del", name, check=False)
            removed.append(f"link {name}")
            if m.group(2) == "br":
                while _iptables("-D", *_forward_rule(name)):
                    pass
    for ns in etc_dirs:
        if _NS_RE.match(ns).group(1) not in live:
            shutil.rmtree(os.path.join(NETNS_ETC, ns), ignore_errors=True)
            removed.append(os.path.join(NETNS_ETC, ns))
    return removed


@dataclass
class PodProcess:
    """A process started in a pod (leader of its own process group)."""

    pod: str
    argv: List[str]
    log_path: str
    popen: subprocess.Popen = field(repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> Optional[int]:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None


class PodNetwork:
    """One network namespace per pod on a fresh bridge; see the module docstring."""

    def __init__(self, hosts: Mapping[str, Sequence[str]], clean_stale: bool = True,
                 host_names: Sequence[str] = ()):
        """HOSTS: pod -> its names; HOST_NAMES: names that resolve to the bridge's address
        (this machine, e.g. where a bare API server listens)."""
        if not hosts:
            raise ValueError("at least one pod is needed")
        if len(hosts) > 250:
            raise ValueError("at most 250 pods fit in the /24")
        seen: Dict[str, str] = {}
        for pod, names in hosts.items():
            if not _POD_RE.match(pod):
                raise ValueError(f"pod name {pod!r} is not a DNS label")
            for name in list(names) or [pod]:
                if name in seen and seen[name] != pod:
                    raise ValueError(f"name {name!r} given to {seen[name]} and {pod}")
                seen[name] = pod
        self.hosts: Dict[str, List[str]] = {p: list(n) or [p] for p, n in hosts.items()}
        self.pods: List[str] = list(self.hosts)
        self.clean_stale = clean_stale
        self.id = ""
        self.bridge = ""
        self.subnet = ""  # e.g. "10.213.57"
        self._record = ""
        self._fwd_rule = False
        self._procs: Dict[str, PodProcess] = {}
        self._all_procs: List[PodProcess] = []
        self._created_ns: List[str] = []
        self._made_netns_etc = False
        self.host_names = list(host_names)
        self._closers: List = []

    # -- names ---------------------------------------------------------------
    def ns_of(self, pod: str) -> str:
        self._check_pod(pod)
        return f"{PREFIX}{self.id}-{pod}"

    def ip_of(self, pod: str) -> str:
        self._check_pod(pod)
        return f"{self.subnet}.{self.pods.index(pod) + 2}"

    @property
    def host_ip(self) -> str:
        """The bridge's address: how pods reach the host."""
        return f"{self.subnet}.1"

    def _veth(self, pod: str) -> str:
        return f"{PREFIX}{self.id}h{self.pods.index(pod)}"

    def cut_off(self, pod: str, cut: bool = True) -> None:
        """POD's link down (CUT) or up again: it reaches nothing and nothing reaches it (the
        other pods, the host and its API server), while its processes run on."""
        _ip("link", "set", self._veth(pod), "down" if cut else "up")

    def block(self, pod: str, ip: str, port: int, blocked: bool = True) -> None:
        """POD's packets to IP:PORT dropped (BLOCKED) or let through again: only that one
        service is gone for it (an API server), everything else stays reachable."""
        rule = ["OUTPUT", "-p", "tcp", "-d", ip, "--dport", str(port), "-j", "DROP"]
        subprocess.run(["ip", "netns", "exec", self.ns_of(pod), "iptables", "-w", "-I" if blocked else "-D", *rule],
                       check=True, capture_output=True)

    def _check_pod(self, pod: str) -> None:
        if pod not in self.hosts:
            raise KeyError(f"unknown pod {pod!r}")

    # -- setup / teardown ----------------------------------------------------
    def __enter__(self) -> "PodNetwork":
        if os.geteuid() != 0:
            raise PermissionError("PodNetwork needs root (ip netns, veth, bridge)")
        if self.clean_stale:
            try:
                cleanup_stale()
                from .roots import cleanup_stale as stale_roots
                stale_roots()
            except Exception:  # best effort only
                pass
        try:
            self._reserve()
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _reserve(self) -> None:
        """Pick an id and a free 10.213.X.0/24; the record file reserves X."""
        os.makedirs(STATE_DIR, exist_ok=True)
        routes = _ip("-4", "route", "show", "table", "all", check=False).stdout
        pid = os.getpid()
        start = _proc_start_time(pid)
        for _ in range(64):
            ident = secrets.token_hex(3)
            x = int(ident, 16) % 250 + 3  # 3..252
            if f"{SUBNET_BASE}.{x}." in routes:
                continue
            path = os.path.join(STATE_DIR, f"net-{x}")
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{ident} {pid} {start}\n")
            self.id, self.subnet, self._record = ident, f"{SUBNET_BASE}.{x}", path
            self.bridge = f"{PREFIX}{ident}br"
            return
        raise NetnsError(f"no free {SUBNET_BASE}.X.0/24 found")

    def _setup(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        if _bridge_nf_active():
            self._fwd_rule = _iptables("-I", *_forward_rule(self.bridge))
        self._made_netns_etc = not os.path.isdir(NETNS_ETC)
        hosts_lines = self.hosts_file().splitlines()
        for pod in self.pods:
            ns, veth = self.ns_of(pod), self._veth(pod)
            _ip("netns", "add", ns)
            self._created_ns.append(ns)
            etc = os.path.join(NETNS_ETC, ns)
            os.makedirs(etc, exist_ok=True)
            with open(os.path.join(etc, "hosts"), "w") as f:
                f.write("\n".join(hosts_lines) + "\n")
            with open(os.path.join(etc, "resolv.conf"), "w") as f:
                f.write("# chartgen PodNetwork: names come from /etc/hosts only\n")
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", veth, "master", self.bridge, "up")
            _ip("-n", ns, "addr", "add", f"{self.ip_of(pod)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def hosts_file(self, pod: str | None = None) -> str:
        """/etc/hosts of a pod: every pod's names, and HOST_NAMES at the bridge's address."""
        lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        lines += [f"{self.ip_of(p)}\t{' '.join(self.hosts[p])}" for p in self.pods]
        if self.host_names:
            lines.append(f"{self.host_ip}\t{' '.join(self.host_names)}")
        return "\n".join(lines) + "\n"

    def on_close(self, closer) -> None:
        """CLOSER() runs first when the network closes (e.g. unmount the pods' roots)."""
        self._closers.append(closer)

    def exec_argv(self, pod: str, argv: Sequence[str]) -> List[str]:
        """ARGV as a command line that runs it inside POD's network namespace."""
        return ["ip", "netns", "exec", self.ns_of(pod), *argv]

    def pids(self, pod: str) -> List[int]:
        out = _ip("netns", "pids", self.ns_of(pod), check=False).stdout
        return [int(tok) for tok in out.split() if tok.isdigit()]

    def close(self) -> None:
        """Kill everything started and remove every trace; safe to call twice."""
        for proc in self._all_procs:
            if proc.alive():
                self._killpg(proc, signal.SIGKILL, 10.0)
        while self._closers:
            self._closers.pop()()
        for proc in self._all_procs:
            if proc.alive():
                self._killpg(proc, signal.SIGKILL, 10.0)
        for ns in self._created_ns:
            _kill_netns_pids(ns)  # also what run_in or a daemonized child left
            _ip("netns", "del", ns, check=False)
            shutil.rmtree(os.path.join(NETNS_ETC, ns), ignore_errors=True)
        self._created_ns = []
        if self.id:
            for pod in self.pods:
                if _ip("link", "show", self._veth(pod), check=False).returncode == 0:
                    _ip("link", "del", self._veth(pod), check=False)
            if self._fwd_rule:
                _iptables("-D", *_forward_rule(self.bridge))
                self._fwd_rule = False
            _ip("link", "del", self.bridge, check=False)
        if self._record:
            try:
                os.unlink(self._record)
            except OSError:
                pass
            self._record = ""
        if self._made_netns_etc:
            try:
                os.rmdir(NETNS_ETC)  # only if empty: parallel runs may use it
            except OSError:
                pass

    # -- processes -----------------------------------------------------------
    def _argv(self, pod: str, argv: Sequence[str], env: Optional[Mapping[str, str]]) -> List[str]:
        """`ip netns exec NS env -i K=V... ARGV`; PATH defaults to the usual dirs."""
        full_env = {"PATH": DEFAULT_PATH}
        full_env.update(env or {})
        for k in full_env:
            if not k or "=" in k:
                raise ValueError(f"bad environment variable name {k!r}")
        return ["ip", "netns", "exec", self.ns_of(pod), "env", "-i",
                *(f"{k}={v}" for k, v in full_env.items()), *argv]

    def start(self, pod: str, argv: Sequence[str], env: Optional[Mapping[str, str]] = None,
              log_path: str = os.devnull, cwd: Optional[str] = None) -> PodProcess:
        """Start a long-running process in POD with exactly ENV (plus a default
        PATH), in its own process group, stdout+stderr appended to LOG_PATH."""
        old = self._procs.get(pod)
        if old is not None and old.alive():
            raise NetnsError(f"pod {pod} already runs pid {old.pid}; kill it first")
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(self._argv(pod, argv, env), stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
                                     start_new_session=True)
        proc = PodProcess(pod, list(argv), log_path, popen)
        self._procs[pod] = proc
        self._all_procs.append(proc)
        return proc

    def alive(self, pod: str) -> bool:
        proc = self._procs.get(pod)
        return proc is not None and proc.alive()

    def process(self, pod: str) -> Optional[PodProcess]:
        return self._procs.get(pod)

    def kill(self, pod: str, sig: int = signal.SIGKILL, timeout: float = 30.0) -> Optional[int]:
        """Send SIG to the process group started in POD and wait for it to end
        (SIGKILL after TIMEOUT). Returns its return code, None if none ran."""
        proc = self._procs.get(pod)
        if proc is None:
            return None
        return self._killpg(proc, sig, timeout)

    @staticmethod
    def _killpg(proc: PodProcess, sig: int, timeout: float) -> int:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return proc.popen.wait()
        finally:
            # The group may outlive its leader (children that ignored SIG, or
            # orphans not yet reaped): kill it and wait a little until it is gone.
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    break
                time.sleep(0.02)

    def run(self, pod: str, argv: Sequence[str], env: Optional[Mapping[str, str]] = None,
            timeout: float = 60.0, input: Optional[str] = None,
            check: bool = False) -> subprocess.CompletedProcess:
        """One-shot command in POD with exactly ENV (plus a default PATH);
        text stdout/stderr captured."""
        return subprocess.run(self._argv(pod, argv, env), capture_output=True, text=True,
                              timeout=timeout, input=input, check=check,
                              stdin=None if input is not None else subprocess.DEVNULL)

    def run_in(self, pod: str, argv: Sequence[str], timeout: float = 60.0,
               **kwargs) -> subprocess.CompletedProcess:
        """A client command inside POD's namespace, where the pods' names resolve
        (the host cannot resolve them). Unlike run(), it keeps the caller's
        environment; KWARGS go to subprocess.run (default: text, captured)."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        if "input" not in kwargs:
            kwargs.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(["ip", "netns", "exec", self.ns_of(pod), *argv],
                              timeout=timeout, **kwargs)

    def wait_tcp(self, pod: str, port: int, timeout: float = 30.0) -> None:
        """Wait until POD accepts TCP connections on PORT (from the host, by IP)."""
        deadline = time.monotonic() + timeout
        addr = (self.ip_of(pod), port)
        while True:
            try:
                with socket.create_connection(addr, timeout=1.0):
                    return
            except OSError as e:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{pod} {addr[0]}:{port} not accepting: {e}") from e
                proc = self._procs.get(pod)
                if proc is not None and not proc.alive() and e.errno == errno.ECONNREFUSED:
                    raise NetnsError(f"{pod}: process exited with {proc.returncode}; "
                                     f"see {proc.log_path}") from e
                time.sleep(0.1)
