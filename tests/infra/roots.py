"""A container's root file system on this machine: an overlay of its image's root (images.py)
with the container's volumes bind-mounted at their mount paths, its own /etc/hosts, a private
/dev and the host's /proc. Processes enter it with `chroot --userspec` (uid/gid of the
container's security context), so a container runs its image's executables and nothing else,
at the paths the real pod sees.

Mount points live under /run/chartgen-roots/<owner pid>-<start>/, never under a test's temporary
directory (a recursive delete must not meet a bind mount); cleanup_stale() unmounts what a
crashed run left behind.

    with ContainerRoot("redis", {"/data": some_dir}) as root:
        root.command(["redis-server", "--port", "7000"], env, user=(999, 999))   # argv to run
"""
from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

from . import images
from .netns import _proc_start_time as _start_time

STATE = Path("/run/chartgen-roots")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
_counter = itertools.count()


def _owner_dir() -> Path:
    d = STATE / f"{os.getpid()}-{_start_time(os.getpid())}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _mounts_under(top: Path) -> list[str]:
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        target = line.split()[1].replace("\\040", " ")
        if target == str(top) or target.startswith(f"{top}/"):
            found.append(target)
    return sorted(found, key=len, reverse=True)   # children first


def _unmount_all(top: Path) -> None:
    for target in _mounts_under(top):
        subprocess.run(["umount", "-l", target], capture_output=True)


def cleanup_stale() -> list[str]:
    """Unmount and remove the roots of runs whose process is gone."""
    removed = []
    for d in STATE.iterdir() if STATE.is_dir() else []:
        pid, _, start = d.name.partition("-")
        if pid.isdigit() and _start_time(int(pid)) == start:
            continue
        _unmount_all(d)
        if not _mounts_under(d):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
    return removed


class ContainerRoot:
    def __init__(self, image: str, volumes: Mapping[str, Path] | None = None,
                 hosts: str = "127.0.0.1\tlocalhost\n", files: Mapping[str, tuple[str, int]] | None = None,
                 read_only: bool = False):
        """IMAGE: a recipe of images.RECIPES; VOLUMES: mount path -> host directory or file;
        FILES: path -> (text, mode) laid over the image (e.g. a wrapper); READ_ONLY: the root
        read-only (readOnlyRootFilesystem), its volumes as they are."""
        self.image, self.volumes, self.hosts = image, dict(volumes or {}), hosts
        self.files, self.read_only = dict(files or {}), read_only
        self.dir = _owner_dir() / f"{image}-{next(_counter)}"
        self.path = self.dir / "root"

    def __enter__(self) -> "ContainerRoot":
        self.lower = images.rootfs(self.image)
        upper = self.dir / "upper"
        for d in ("upper", "work", "root"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        try:
            # everything the root needs is laid in the upper layer before the overlay is mounted
            # (read-only or not): mount points, /etc/hosts, files
            for rel in ("proc", "dev", "tmp"):
                (upper / self._real(rel)).mkdir(parents=True, exist_ok=True)
            (upper / self._real("tmp")).chmod(0o1777)
            for target, source in self.volumes.items():
                where = upper / self._real(target)
                if Path(source).is_dir():
                    where.mkdir(parents=True, exist_ok=True)
                else:
                    where.parent.mkdir(parents=True, exist_ok=True)
                    where.touch()
            files = {"/etc/hosts": (self.hosts, 0o644),
                     "/etc/resolv.conf": ("# chartgen: names come from /etc/hosts only\n", 0o644), **self.files}
            for path, (text, mode) in files.items():
                where = upper / self._real(path)
                where.parent.mkdir(parents=True, exist_ok=True)
                where.write_text(text)
                where.chmod(mode)
            options = f"lowerdir={self.lower},upperdir={upper},workdir={self.dir / 'work'}"
            self._mount("-t", "overlay", "overlay", "-o", ("ro," if self.read_only else "") + options, str(self.path))
            self._mount("-t", "proc", "proc", str(self.path / "proc"))
            self._mount("-t", "tmpfs", "-o", "mode=755,size=16m", "dev", str(self.path / "dev"))
            for dev in DEVICES:
                (self.path / "dev" / dev).touch()
                self._mount("--bind", f"/dev/{dev}", str(self.path / "dev" / dev))
            for link, to in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                             ("stderr", "/proc/self/fd/2")):
                (self.path / "dev" / link).symlink_to(to)
            (self.path / "dev/shm").mkdir(mode=0o1777)
            (self.path / "dev/shm").chmod(0o1777)
            for target, source in sorted(self.volumes.items()):
                self._mount("--bind", str(source), str(self.path / self._real(target)))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _real(self, path: str) -> str:
        """PATH relative to the root, with the image's symlinks on the way followed (e.g.
        /var/run -> /run), so a mount point laid in the upper layer does not hide one."""
        parts, out = [p for p in path.strip("/").split("/") if p], []
        hops = 0
        while parts:
            out.append(parts.pop(0))
            here = self.lower / "/".join(out)
            if here.is_symlink() and hops < 40:
                hops += 1
                target = os.readlink(here)
                base = [] if target.startswith("/") else out[:-1]
                parts = [p for p in target.strip("/").split("/") if p not in ("", ".")] + parts
                out = list(base)
                while ".." in parts[:1]:
                    parts.pop(0)
                    if out:
                        out.pop()
        return "/".join(out)

    @staticmethod
    def _mount(*args: str) -> None:
        proc = subprocess.run(["mount", *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"mount {' '.join(args)}: {proc.stderr.strip()}")

    def host_path(self, path: str) -> Path:
        return self.path / self._real(path)

    def command(self, argv: Sequence[str], user: tuple[int, int] | None = None,
                groups: Sequence[int] = ()) -> list[str]:
        """ARGV run in this root (as USER=(uid, gid) with GROUPS, else root): a command line for
        the host, e.g. inside a pod's network namespace."""
        spec = []
        if user is not None:
            spec = [f"--userspec={user[0]}:{user[1]}", f"--groups={','.join(str(g) for g in (user[1], *groups))}"]
        return ["/usr/sbin/chroot", *spec, str(self.path), *argv]

    def close(self) -> None:
        _unmount_all(self.dir)
        if not _mounts_under(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
            try:
                self.dir.parent.rmdir()   # the owner's directory, once it holds no root
            except OSError:
                pass


def run(image: str, argv: Sequence[str], env: Mapping[str, str] | None = None,
        volumes: Mapping[str, Path] | None = None, user: tuple[int, int] | None = None,
        timeout: float = 60, input: str | None = None) -> subprocess.CompletedProcess:
    """ARGV once in a fresh root of IMAGE with exactly ENV (PATH defaults to the usual dirs)."""
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", **(env or {})}
    with ContainerRoot(image, volumes) as root:
        return subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()), *root.command(argv, user)],
                              capture_output=True, text=True, timeout=timeout, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)
