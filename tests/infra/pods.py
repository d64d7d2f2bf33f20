"""One base for the member-level tests: a chart's StatefulSet pods as processes.

Each "pod" gets its own network namespace (netns.PodNetwork), where the pods' FQDNs resolve,
and its own directory for volumes. Each of its containers runs exactly what the rendered
StatefulSet gives it (podspec.RenderedPod: command, args, environment, mounts, uid/gid), chrooted
into a fresh root of its image's stand-in (roots.ContainerRoot over images.rootfs: Debian
trixie's servers, pruned to exactly the default image's executables), with its volumes at their
mount paths. Init containers run to completion first, then every container at once, the first
one being the pod's lifeline; a stop runs each container's preStop hook, then SIGTERM, like the
kubelet.

Containers of an image in SKIP (by pin key) are not run (e.g. the kubectl sidecar when no API
server is at hand). With API (apiserver.ApiServer), every container gets the service account's
token volume and KUBERNETES_SERVICE_HOST/PORT, as in a cluster. RECORD: programs whose every
command line is logged to commands.log (to prove no secret is passed on one).
"""
from __future__ import annotations

import shlex
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable

from chartgen.topology import rendered_peer_lists
from tests.waiting import wait_for

from . import images
from .netns import PodNetwork
from .podspec import TOKEN_DIR, Container, RenderedPod
from .roots import ContainerRoot

RECORD_DIR = "/.chartgen-record"


class Pods:
    def __init__(self, objects: list[dict[str, Any]], workdir: Path, net: PodNetwork,
                 skip_images: tuple[str, ...] = (), record: tuple[str, ...] = (), api=None):
        self.objects = objects
        self.workdir = workdir
        self.net = net
        self.skip_images = skip_images
        self.record = record
        self.api = api
        self.commands_log = workdir / "record" / "commands.log"
        self.sts = next(o for o in objects if o["kind"] == "StatefulSet")["metadata"]["name"]
        self._roots: dict[tuple[int, str], ContainerRoot] = {}
        net.on_close(self.close)

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

    # -- containers -------------------------------------------------------------------
    def skipped(self, c: Container) -> bool:
        return images.key_of(c.image) in self.skip_images

    def _token(self, pod: RenderedPod) -> dict[str, str] | None:
        return self.api.token_files(pod.spec.get("serviceAccountName", "default")) if self.api else None

    def _service_env(self) -> dict[str, str]:
        return self.api.service_env() if self.api else {}

    def env(self, ordinal: int, container: str, init: bool = False) -> dict[str, str]:
        c = self.pod(ordinal).container(container, init=init)
        return {**self._image_env(c), **self._service_env(), **c.env}

    @staticmethod
    def _image_env(c: Container) -> dict[str, str]:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        env.update(images.RECIPES[c.recipe].env)
        return env

    def _root(self, c: Container, hosts: str) -> ContainerRoot:
        mounts, files = dict(c.mounts), {}
        have = images.tools(images.key_of(c.image))
        recorded = [n for n in self.record if any(Path(p).name == n for p in have.executables)]
        if recorded and have.shell != "none":
            (self.workdir / "record").mkdir(exist_ok=True)
            (self.workdir / "record").chmod(0o777)
            mounts[RECORD_DIR] = self.workdir / "record"
            # first on PATH: a script that logs its command line, then runs the program
            for name in recorded:
                files[f"/usr/local/sbin/{name}"] = (
                    f'#!/bin/sh\nprintf "%s\\n" "$0 $*" >> {RECORD_DIR}/commands.log\n'
                    f'PATH=${{PATH#/usr/local/sbin:}} exec {name} "$@"\n', 0o755)
        return ContainerRoot(c.recipe, mounts, hosts=hosts, files=files, read_only=c.read_only_root).__enter__()

    def _line(self, root: ContainerRoot, c: Container, argv: list[str] | None = None,
              env: dict[str, str] | None = None) -> list[str]:
        env = env if env is not None else {**self._image_env(c), **self._service_env(), **c.env}
        return ["env", "-i", *(f"{k}={v}" for k, v in env.items()),
                *root.command(argv or c.argv, c.run_as, c.groups)]

    def start(self, ordinal: int, fresh_data: bool = False) -> subprocess.CompletedProcess | None:
        """Start pod ORDINAL like the kubelet; returns the last init container's result (or
        None), and starts nothing more when an init container failed."""
        pod = self.materialize(ordinal, fresh_data)
        hosts = self.net.hosts_file(self.name(ordinal))
        last, sidecars = None, []
        with open(self.log(ordinal), "a") as fh:
            for name in pod.container_names(init=True):
                c = pod.container(name, init=True)
                if self.skipped(c):
                    continue
                root = self._roots[(ordinal, f"init:{name}")] = self._root(c, hosts)
                line = self._line(root, c)
                if pod.is_sidecar(name):
                    sidecars.append(shlex.join(line))
                    continue
                last = subprocess.run(self.net.exec_argv(self.name(ordinal), line), capture_output=True, text=True,
                                      timeout=400, stdin=subprocess.DEVNULL)
                fh.write(f"--- init {name} rc={last.returncode}\n{last.stdout}{last.stderr}")
                if last.returncode != 0:
                    return last
        parts = []
        for name in pod.container_names():
            c = pod.container(name)
            if self.skipped(c):
                continue
            root = self._roots[(ordinal, name)] = self._root(c, hosts)
            parts.append(shlex.join(self._line(root, c)))
        launch = "".join(f"{p} & " for p in sidecars + parts[1:]) + "exec " + parts[0]
        self.net.start(self.name(ordinal), ["/bin/sh", "-c", launch], env={}, log_path=str(self.log(ordinal)))
        return last

    def materialize(self, ordinal: int, fresh_data: bool = False) -> RenderedPod:
        """Pod ORDINAL's volumes made afresh (claims kept unless FRESH_DATA), its old roots gone."""
        self._drop_roots(ordinal)
        pod = self.pod(ordinal)
        pod.materialize(fresh_data=fresh_data, service_account=self._token(pod))
        return pod

    def run(self, ordinal: int, container: str, argv: list[str] | None = None, init: bool = False,
            timeout: float = 120, env: dict[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
        """ARGV (default: the container's own command) in pod ORDINAL's container, like
        `kubectl exec`: its root, its environment (or ENV), its user."""
        c = self.pod(ordinal).container(container, init=init)
        key = (ordinal, f"init:{container}" if init else container)
        if key not in self._roots:
            self._roots[key] = self._root(c, self.net.hosts_file(self.name(ordinal)))
        line = self._line(self._roots[key], c, argv, env)
        return subprocess.run(self.net.exec_argv(self.name(ordinal), line), capture_output=True, text=True,
                              timeout=timeout, input=input, stdin=None if input is not None else subprocess.DEVNULL)

    def popen(self, ordinal: int, container: str, argv: list[str], env: dict[str, str] | None = None,
              **kw) -> subprocess.Popen:
        """Like run(), without waiting: a client left running (KW go to Popen)."""
        c = self.pod(ordinal).container(container)
        key = (ordinal, container)
        if key not in self._roots:
            self._roots[key] = self._root(c, self.net.hosts_file(self.name(ordinal)))
        return subprocess.Popen(self.net.exec_argv(self.name(ordinal), self._line(self._roots[key], c, argv, env)),
                                text=True, **kw)

    def run_workload(self, workload: dict[str, Any], via: int, timeout: float = 300,
                     unset: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        """The first container of a rendered Job or Pod (a hook, a helm test) in a root of its
        own image, inside pod VIA's network namespace (less the variables in UNSET)."""
        pod = RenderedPod(self.objects, 0, self.workdir / workload["metadata"]["name"], workload=workload)
        pod.materialize(service_account=self._token(pod))
        c = pod.container(pod.container_names()[0])
        env = {k: v for k, v in {**self._image_env(c), **self._service_env(), **c.env}.items() if k not in unset}
        root = self._root(c, self.net.hosts_file(self.name(via)))
        try:
            return subprocess.run(self.net.exec_argv(self.name(via), self._line(root, c, env=env)),
                                  capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        finally:
            root.close()

    def host_path(self, ordinal: int, container: str, path: str, init: bool = False) -> Path:
        """Where PATH of a container of pod ORDINAL lives on this machine (in one of its volumes)."""
        mounts = self.pod(ordinal).container(container, init=init).mounts
        for mount in sorted(mounts, key=len, reverse=True):
            if path == mount or path.startswith(mount.rstrip("/") + "/"):
                return mounts[mount] / path[len(mount):].lstrip("/")
        raise LookupError(f"{path} is in no volume of {self.name(ordinal)}/{container}")

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
        for pid in self.net.pids(self.name(ordinal)):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_text()
            except OSError:
                continue
            if cmdline.startswith(title) or Path(cmdline.split("\0")[0]).name == title:
                return pid
        raise LookupError(f"no process {title!r} in {self.name(ordinal)}")

    def _drop_roots(self, ordinal: int | None = None) -> None:
        for key in [k for k in self._roots if ordinal is None or k[0] == ordinal]:
            self._roots.pop(key).close()

    def close(self) -> None:
        self._drop_roots()

    # -- waiting ------------------------------------------------------------------------
    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n" + p.read_text()[-3000:] for p in sorted(self.workdir.glob("*.log")))

    def wait(self, what: str, cond: Callable[[], Any], timeout: float = 60, interval: float = 0.25):
        """COND's result once it is something (0 counts; None, False and [] do not)."""
        return wait_for(what, cond, timeout, interval,
                        accept=lambda r: r is not None and r is not False and r != [],
                        details=self.logs)
