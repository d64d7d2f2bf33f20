"""The project's own Docker engine (Debian's docker.io), never the system service.

    up()     start dockerd if it is not answering (idempotent); returns the DOCKER_HOST value
    down()   delete its containers and networks, stop it by PID, remove its mounts and bridges,
             restore the host-global sysctls kubelet in the nodes changed
    env()    {"DOCKER_HOST": ...} for docker/kind subprocesses

Its data root (images: the base and node images are cached there) is $CHARTGEN_CACHE/docker;
socket, PID file and exec root live under /run/chartgen-docker. It runs with
``--iptables=false --ip-forward=false --ip-masq=false --bridge=none``: kind's nodes talk over
one user-defined bridge and nothing leaves the machine, so the host's iptables, forwarding
and default bridge stay as they were. Its default runtime is ``runc-no-sys-resource.sh``
(CAP_SYS_RESOURCE is not in this machine's bounding set; Docker asks for it for
--privileged containers). ``up``/``down`` hold a host-wide lock (/run/chartgen-docker.lock).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.infra import shelf
from tests.infra.shelf import log

# the project's Docker engine; never the system service
RUN_DIR = Path("/run/chartgen-docker")
SOCKET = RUN_DIR / "docker.sock"
PIDFILE = RUN_DIR / "docker.pid"
EXEC_ROOT = RUN_DIR / "exec"
LOCK = Path("/run/chartgen-docker.lock")
DOCKER_HOST = f"unix://{SOCKET}"

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"       # Debian's client (20.10), matching the engine
RUNTIME = Path(__file__).with_name("runc-no-sys-resource.sh")


# Host-global sysctls that kubelet inside kind's nodes sets (its kernel tunables; not
# namespaced): saved when the engine starts, restored when it stops.
KUBELET_SYSCTLS = ["vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
                   "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"]
SAVED_SYSCTLS = RUN_DIR / "sysctl.saved"


class DockerError(RuntimeError):
    pass


def _save_sysctls() -> None:
    if not SAVED_SYSCTLS.exists():
        SAVED_SYSCTLS.write_text("".join(f"{k}={Path('/proc/sys', k).read_text().strip()}\n"
                                         for k in KUBELET_SYSCTLS))


def _restore_sysctls() -> None:
    try:
        saved = SAVED_SYSCTLS.read_text().splitlines()
    except OSError:
        return
    if subprocess.run(["pgrep", "-x", "kubelet"], stdout=subprocess.DEVNULL).returncode == 0:
        log("a kubelet still runs on this host (another cluster): sysctls left as they are")
        return
    for line in saved:
        key, _, value = line.partition("=")
        try:
            Path("/proc/sys", key).write_text(value)
        except OSError as err:
            log(f"could not restore {key}={value}: {err}")


def env() -> dict[str, str]:
    return {"DOCKER_HOST": DOCKER_HOST}


def docker(*args: str, check: bool = True, timeout: float | None = 600,
           **kw) -> subprocess.CompletedProcess:
    """Run Debian's docker client against the project's engine."""
    proc = subprocess.run([DOCKER, *args], env={**os.environ, **env(), "DOCKER_BUILDKIT": "0"}, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise DockerError(f"docker {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc


@contextlib.contextmanager
def host_lock():
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def pid() -> int | None:
    """PID of our dockerd when it runs (from its PID file, checked against /proc)."""
    try:
        p = int(PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        cmd = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return p if cmd and cmd[0].endswith(b"dockerd") and str(SOCKET).encode() in b" ".join(cmd) else None


def answering() -> bool:
    return SOCKET.exists() and docker("version", "-f", "{{.Server.Version}}", check=False,
                                            timeout=10).returncode == 0


def up(timeout: float = 60) -> str:
    """Start the engine unless it already answers. Returns DOCKER_HOST."""
    if os.geteuid() != 0:
        raise DockerError("the project's dockerd needs root")
    with host_lock():
        if pid() and answering():
            return DOCKER_HOST
        if not (shutil.which(DOCKERD) and shutil.which("jq")):
            raise DockerError("docker.io/jq are missing: run `make host-deps` (apt-get, as root)")
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        _save_sysctls()
        data = (shelf.cache() / "docker")
        data.mkdir(parents=True, exist_ok=True)
        logfile = shelf.cache() / "kind" / "dockerd.log"
        logfile.parent.mkdir(parents=True, exist_ok=True)
        cmd = [DOCKERD, "--host", DOCKER_HOST, "--data-root", str(data),
               "--exec-root", str(EXEC_ROOT), "--pidfile", str(PIDFILE),
               "--bridge=none", "--iptables=false", "--ip-forward=false", "--ip-masq=false",
               "--storage-driver=overlay2", "--log-level=warn",
               "--add-runtime", f"chartgen-runc={RUNTIME}", "--default-runtime", "chartgen-runc"]
        log(f"starting dockerd ({DOCKER_HOST}, data root {data})")
        with open(logfile, "ab") as out:
            # at normal priority even when a niced build starts it: the nodes are its children
            subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True, preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, 0))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pid() and answering():
                _remove_leftovers()
                return DOCKER_HOST
            time.sleep(0.3)
        tail = logfile.read_text(errors="replace").splitlines()[-20:]
        raise DockerError("dockerd did not answer within %ss; %s:\n%s" % (timeout, logfile, "\n".join(tail)))


def _remove_leftovers() -> None:
    """A freshly started engine keeps nothing of a previous one's life (a machine restored from a
    snapshot, a killed run): its containers (kind nodes restarted by their restart policy, with a
    stale cluster on them) and networks are removed, so every cluster here starts new."""
    ids = docker("ps", "-aq", check=False).stdout.split()
    if ids:
        docker("rm", "-f", "-v", *ids, check=False, timeout=300)
        log(f"removed {len(ids)} container(s) a previous dockerd left")
    nets = docker("network", "ls", "-q", "--filter", "type=custom", check=False).stdout.split()
    if nets:
        docker("network", "rm", *nets, check=False)


def _bridges() -> list[str]:
    """Linux bridges of the engine's bridge networks (br-<id12>), to remove after it stops."""
    out = docker("network", "ls", "-q", "--no-trunc", "--filter", "driver=bridge", check=False).stdout
    return [f"br-{nid[:12]}" for nid in out.split()]


def _mounts_under(*roots: Path) -> list[str]:
    targets = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if any(target == str(r) or target.startswith(f"{r}/") for r in roots):
            targets.append(target)
    return sorted(targets, key=len, reverse=True)  # children first


def down(timeout: float = 60) -> None:
    """Remove every container and network of the engine, stop it by PID, then remove what it
    leaves behind: its bridges, mounts under its roots, and the /run directory."""
    with host_lock():
        p = pid()
        bridges: list[str] = []
        if p and answering():
            ids = docker("ps", "-aq", check=False).stdout.split()
            if ids:
                docker("rm", "-f", "-v", *ids, check=False, timeout=300)
            bridges = _bridges()
            nets = docker("network", "ls", "-q", "--filter", "type=custom", check=False).stdout.split()
            if nets:
                docker("network", "rm", *nets, check=False)
        if p:
            os.kill(p, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pid() and time.monotonic() < deadline:
                time.sleep(0.2)
            if pid():
                os.kill(p, signal.SIGKILL)
                time.sleep(1)
            log(f"dockerd {p} stopped")
        for br in bridges:
            if Path(f"/sys/class/net/{br}").exists():
                subprocess.run(["ip", "link", "delete", br], check=False)
        for target in _mounts_under(EXEC_ROOT, (shelf.cache() / "docker")):
            subprocess.run(["umount", "-l", target], check=False)
        _restore_sysctls()
        shutil.rmtree(RUN_DIR, ignore_errors=True)


def status() -> str:
    p = pid()
    if not p:
        return "dockerd: stopped"
    return f"dockerd: pid {p}, {'answering' if answering() else 'NOT answering'} on {DOCKER_HOST}"
