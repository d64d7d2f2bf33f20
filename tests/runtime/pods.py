"""One base for the member-level tests: a chart's StatefulSet pods as processes.

Each "pod" gets its own network namespace (netns.PodNetwork), where the pods' FQDNs resolve,
and its own directory for volumes. Its containers run exactly what the rendered StatefulSet
gives them (podspec.RenderedPod: command, args, environment, mounts), with the tools of their
image and nothing else: PATH is the image's toolbox (tests/images), `/bin/sh` is the image's
shell, and a command the image lacks fails. Init containers run to completion first, then
every container at once, the first one being the pod's lifeline; a stop runs each
container's preStop hook, then SIGTERM, like the kubelet.

Containers of an image in SKIP (by pin key) are not run: e.g. the kubectl sidecar, when no
Kubernetes API is at hand. Native sidecars (init containers with restartPolicy Always) start
with the main containers and are not waited for. EXTRA_ENV adds variables to the containers of
an image (e.g. KUBECONFIG for a kubectl sidecar that has no in-cluster configuration here), and
AS_POD_USER runs every container as its security context's uid/gid (a user namespace mapping
that uid to root outside, so the pod's files stay reachable), as servers that refuse to run
as root need.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable

from chartgen.topology import rendered_peer_lists
from tests.images.toolbox import key_of, recording_toolbox, toolbox, tools
from tests.runtime.netns import PodNetwork
from tests.runtime.podspec import Container, RenderedPod
from tests.waiting import wait_for


class Pods:
    def __init__(self, objects: list[dict[str, Any]], workdir: Path, net: PodNetwork,
                 skip_images: tuple[str, ...] = (), record: tuple[str, ...] = (),
                 extra_env: dict[str, dict[str, str]] | None = None, as_pod_user: bool = False):
        """RECORD: programs whose every command line is logged to commands.log (e.g. to prove
        that no secret is ever passed on one)."""
        self.objects = objects
        self.workdir = workdir
        self.net = net
        self.skip_images = skip_images
        self.record = record
        self.extra_env = extra_env or {}
        self.as_pod_user = as_pod_user
        self.commands_log = workdir / "commands.log"
        sts = next(o for o in objects if o["kind"] == "StatefulSet")
        self.sts = sts["metadata"]["name"]

    @property
    def peers(self) -> list[str]:
        """The PEERS the current objects render (they follow replicaCount)."""
        listed = rendered_peer_lists(self.objects, self.sts)
        return listed[0][1] if listed else []

    def render(self, objects: list[dict[str, Any]]) -> None:
        """A helm upgrade: later starts see the new objects (ConfigMaps, Secrets, specs)."""
        self.objects = objects

    # -- names ------------------------------------------------------------------------
    def name(self, ordinal: int) -> str:
        return f"{self.sts}-{ordinal}"

    def fqdn(self, ordinal: int) -> str:
        return self.peers[ordinal]

    def pod(self, ordinal: int) -> RenderedPod:
        return RenderedPod(self.objects, ordinal, self.workdir / self.name(ordinal))

    def log(self, ordinal: int) -> Path:
        return self.workdir / f"{self.name(ordinal)}.log"

    # -- containers as processes --------------------------------------------------------
    def runnable(self, c: Container, as_user: bool = True) -> tuple[list[str], dict[str, str]]:
        """A container's argv and environment with its image's tools: argv[0] resolved in
        the image (a missing tool fails here), PATH = the image's toolbox only (and, with
        AS_POD_USER and AS_USER, run as its uid)."""
        key = key_of(c.image)
        box = (recording_toolbox(key, self.record, self.workdir / "toolbox" / key, self.commands_log)
               if self.record else toolbox(key))
        head = c.argv[0]
        tools(key).resolve(head)  # raises MissingTool when the image lacks it
        argv0 = str(box / ("sh" if head == "/bin/sh" else Path(head).name))
        user = self._as_user(c.run_as) if as_user else []
        return [*user, argv0, *c.argv[1:]], {**c.env, **self.extra_env.get(key, {}), "PATH": str(box)}

    def _as_user(self, run_as: tuple[int, int] | None) -> list[str]:
        """A user namespace where the process is RUN_AS and root outside (None: as is)."""
        if not self.as_pod_user or run_as is None:
            return []
        return ["/usr/bin/unshare", "--user", f"--map-user={run_as[0]}", f"--map-group={run_as[1]}", "--"]

    def skipped(self, c: Container) -> bool:
        return key_of(c.image) in self.skip_images

    def env(self, ordinal: int, container: str) -> dict[str, str]:
        return self.runnable(self.pod(ordinal).container(container))[1]

    def start(self, ordinal: int, fresh_data: bool = False) -> subprocess.CompletedProcess | None:
        """Start pod ORDINAL like the kubelet; returns the last init container's result (or
        None), and starts nothing more when an init container failed."""
        pod = self.pod(ordinal)
        pod.materialize(fresh_data=fresh_data)
        last = None
        sidecars = []
        with open(self.log(ordinal), "a") as fh:
            for name in pod.container_names(init=True):
                c = pod.container(name, init=True)
                if self.skipped(c):
                    continue
                argv, env = self.runnable(c, as_user=not pod.is_sidecar(name))
                if pod.is_sidecar(name):
                    sidecars.append(shlex.join(["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]))
                    continue
                last = self.net.run(self.name(ordinal), argv, env, timeout=400)
                fh.write(f"--- init {name} rc={last.returncode}\n{last.stdout}{last.stderr}")
                if last.returncode != 0:
                    return last
        self.after_init(ordinal, pod)
        parts = []
        run_as = None
        for name in pod.container_names():
            c = pod.container(name)
            if self.skipped(c):
                continue
            run_as = run_as or c.run_as
            argv, env = self.runnable(c, as_user=False)
            parts.append(shlex.join(["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]))
        launch = "".join(f"{p} & " for p in sidecars + parts[1:]) + "exec " + parts[0]
        # one user namespace for the whole pod: its containers see each other's processes as
        # their own user's (what a pod's shared process namespace shows)
        self.net.start(self.name(ordinal), [*self._as_user(run_as), "/bin/sh", "-c", launch], env={},
                       log_path=str(self.log(ordinal)))
        return last

    def after_init(self, ordinal: int, pod: RenderedPod) -> None:
        """Between the init containers and the others (a preset's harness may map paths)."""

    def run(self, ordinal: int, container: str, argv: list[str] | None = None, init: bool = False,
            timeout: float = 120) -> subprocess.CompletedProcess:
        """Run ARGV (default: the container's own command) in pod ORDINAL's network namespace
        with that container's environment and tools."""
        c = self.pod(ordinal).container(container, init=init)
        if argv is not None:
            c = Container(c.name, argv, c.env, c.mounts, c.image, c.run_as)
        argv, env = self.runnable(c)
        return self.net.run(self.name(ordinal), argv, env, timeout=timeout)

    def run_workload(self, workload: dict[str, Any], via: int, timeout: float = 300,
                     unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        """Run the first container of a rendered Job or Pod (a hook, a helm test) inside pod
        VIA's network namespace, with its image's tools (less the variables in UNSET)."""
        pod = RenderedPod(self.objects, 0, self.workdir / workload["metadata"]["name"], workload=workload)
        pod.materialize()
        c = pod.container(pod.container_names()[0])
        argv, env = self.runnable(c)
        for name in unset:
            env.pop(name, None)
        return self.net.run(self.name(via), argv, env, timeout=timeout)

    def kill(self, ordinal: int, sig: int = signal.SIGKILL) -> None:
        self.net.kill(self.name(ordinal), sig)

    def stop(self, ordinal: int) -> str:
        """Delete the pod like the kubelet: every container's preStop hook at once, then SIGTERM."""
        pod = self.pod(ordinal)
        out: dict[str, subprocess.CompletedProcess] = {}

        def hook(name: str) -> None:
            argv = pod.handler(name, "preStop")
            if argv:
                out[name] = self.run(ordinal, name, argv, timeout=60)

        threads = [threading.Thread(target=hook, args=(n,)) for n in pod.container_names()
                   if not self.skipped(pod.container(n))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.kill(ordinal, signal.SIGTERM)
        return "".join(p.stdout + p.stderr for p in out.values())

    def pid(self, ordinal: int, title: str) -> int:
        """PID of the process in pod ORDINAL whose command line starts with TITLE (or whose
        program's name is TITLE)."""
        ns = self.net.ns_of(self.name(ordinal))
        for tok in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split():
            try:
                cmdline = Path(f"/proc/{tok}/cmdline").read_text()
            except OSError:
                continue
            if cmdline.startswith(title) or Path(cmdline.split("\0")[0]).name == title:
                return int(tok)
        raise LookupError(f"no process {title!r} in {self.name(ordinal)}")

    # -- waiting ------------------------------------------------------------------------
    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n" + p.read_text()[-3000:] for p in sorted(self.workdir.glob("*.log")))

    def wait(self, what: str, cond: Callable[[], Any], timeout: float = 60, interval: float = 0.25):
        """COND's result once it is something (0 counts; None, False and [] do not)."""
        return wait_for(what, cond, timeout, interval,
                        accept=lambda r: r is not None and r is not False and r != [],
                        details=self.logs)
