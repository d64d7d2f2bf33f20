"""The default images' tool sets (manifest.yaml), as this machine can provide them.

`tools(key)` says which executables the image pinned under KEY holds, each mapped to a binary
of this machine that stands in for it (Debian's, or one built from its Go module). The
member-level tests run a container's processes with PATH set to `toolbox(key)`, a directory
of exactly those executables, and the e2e test images are pruned to the same set, so a script
that calls a tool the real image lacks fails in the tests.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from chartgen.versions import ImageRef, pin

MANIFEST = Path(__file__).with_name("manifest.yaml")
ROOT = Path(__file__).resolve().parents[2]
BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
SHELLS = {"bash-static": "/bin/bash-static", "dash": "/bin/dash", "bash": "/bin/bash"}


class MissingTool(RuntimeError):
    """A container calls something its image does not have."""


def cache_dir() -> Path:
    return Path(os.environ.get("CHARTGEN_CACHE", Path.home() / ".cache" / "chartgen"))


@functools.cache
def manifest() -> dict[str, dict]:
    return yaml.safe_load(MANIFEST.read_text())


def key_of(image: str) -> str:
    """The pin key of a rendered container image reference (e.g. ETCD_TOOLS_IMAGE)."""
    wanted = str(ImageRef.parse(image))
    for key in manifest():
        if str(ImageRef.parse(pin(key))) == wanted:
            return key
    raise KeyError(f"{image}: not a default image listed in {MANIFEST}")


def _debian_executables(package: str) -> list[str]:
    out = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True)
    if out.returncode != 0:
        raise MissingTool(f"Debian package {package} is not installed here (tools/install-host-deps.sh installs it)")
    found = []
    for path in out.stdout.split():
        if os.path.dirname(path) in BIN_DIRS and os.path.isfile(path) and os.access(path, os.X_OK):
            found.append(path)
    return found


def _provider(path: str) -> str:
    """This machine's stand-in for the image's executable PATH."""
    name = os.path.basename(path)
    if name in ("etcd", "etcdctl", "etcdutl"):
        from tests.runtime.etcd_cluster import etcd_binaries

        return str(etcd_binaries() / name)
    if name == "kubectl":  # built with the local cluster (make cluster-build); resolved when run
        return str(cache_dir() / "bin" / f"kubernetes-{pin('KUBERNETES_VERSION')}" / "kubectl")
    host = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
    if not host:
        raise MissingTool(f"{path}: no stand-in for it on this machine")
    return host


@dataclass(frozen=True)
class Tools:
    key: str
    shell: str  # none | bash-static | dash | bash
    executables: dict[str, str]  # path in the image -> binary here
    # paths the image has but no package of this machine provides (manifest: absent_here)
    absent_here: frozenset[str] = frozenset()

    def resolve(self, argv0: str) -> str:
        """The binary here for a container's command ARGV0 (an absolute path or a name on PATH).
        For an executable the image has but this machine cannot stand in for (absent_here), the
        image's own path: the container may call it, nothing here can run it."""
        for path, host in list(self.executables.items()) + [(p, p) for p in sorted(self.absent_here)]:
            if argv0 == path or ("/" not in argv0 and os.path.basename(path) == argv0):
                return host
        raise MissingTool(f"{self.key} ({pin(self.key)}) has no {argv0}"
                          + (" and no shell at all" if self.shell == "none" else ""))


@functools.cache
def tools(key: str) -> Tools:
    entry = manifest()[key]
    executables: dict[str, str] = {}
    for package in entry.get("debian", []):
        for path in _debian_executables(package):
            executables[path] = path
    for path in entry.get("files", []):
        executables[path] = _provider(path)
    shell = entry.get("shell", "none")
    if shell != "none":
        executables["/bin/sh"] = SHELLS[shell]
    return Tools(key, shell, executables, frozenset(entry.get("absent_here", [])))


@functools.cache
def toolbox(key: str) -> Path:
    """A directory of exactly the image's executables by name (symlinks), for PATH; those it
    has that this machine cannot stand in for (absent_here) are missing, so calling them fails."""
    t = tools(key)
    digest = hashlib.sha256(repr(sorted(t.executables.items())).encode()).hexdigest()[:12]
    out = cache_dir() / "toolbox" / f"{key.lower()}-{digest}"
    if not out.is_dir():
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for path, host in sorted(t.executables.items()):
            name = "sh" if path == "/bin/sh" else os.path.basename(path)
            if not (tmp / name).exists():
                (tmp / name).symlink_to(host)
        try:
            tmp.rename(out)
        except OSError:  # another process made it first
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def recording_toolbox(key: str, names: tuple[str, ...], dest: Path, log: Path) -> Path:
    """A copy of KEY's toolbox in DEST where each program in NAMES first appends its command
    line to LOG (a test instrument: what `ps` would show), then runs the real one."""
    box = toolbox(key)
    dest.mkdir(parents=True, exist_ok=True)
    for item in box.iterdir():
        target = dest / item.name
        if item.name in names:
            real = os.path.realpath(item)
            text = f'#!/bin/sh\nprintf "%s\\n" "$0 $*" >> "{log}"\nexec "{real}" "$@"\n'
            if target.is_file() and not target.is_symlink() and target.read_text() == text:
                continue  # a pod started earlier may be running it right now: never rewrite it
            tmp = target.with_name(f".{item.name}.{os.getpid()}")
            tmp.write_text(text)
            tmp.chmod(0o755)
            tmp.replace(target)
        elif not target.exists():
            target.symlink_to(os.readlink(item))
    return dest
