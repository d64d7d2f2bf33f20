"""Container images without a registry.

A Debian bookworm minbase rootfs (debootstrap, cached as a tarball), plus the
files and Debian packages an image needs, packed as a one-layer OCI archive and
imported into the cluster's containerd (namespace k8s.io, seen by the CRI).

Adding an image = one recipe function registered in RECIPES (see ``_redis``).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import build, config
from .build import log

SUITE = "bookworm"
PAUSE_IMAGE = f"localhost/localkube/pause:{build.PAUSE_VERSION}"


def images_dir() -> Path:
    d = config.cache_dir() / "localkube" / "images"
    d.mkdir(parents=True, exist_ok=True)
    return d


def debian_mirror() -> str:
    if os.environ.get("LOCALKUBE_DEBIAN_MIRROR"):
        return os.environ["LOCALKUBE_DEBIAN_MIRROR"]
    src = Path("/etc/apt/sources.list.d/debian.sources")
    if src.exists():
        m = re.search(r"^URIs:\s*(\S+/debian)\s*$", src.read_text(), re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def _sh(cmd: list[str], **kw) -> None:
    proc = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-30:])
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")


def base_rootfs_tarball() -> Path:
    """bookworm --variant=minbase, made once and cached as a tarball."""
    out = images_dir() / f"debian-{SUITE}-minbase.tar"
    if out.exists():
        return out
    if not shutil.which("debootstrap"):
        raise RuntimeError("debootstrap is missing: run `python -m localkube setup`")
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        root = Path(tmp) / "rootfs"
        log(f"debootstrap --variant=minbase {SUITE} from {debian_mirror()}")
        t0 = time.monotonic()
        _sh(["debootstrap", "--variant=minbase", SUITE, str(root), debian_mirror()])
        _clean_rootfs(root)
        _sh(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(out) + ".tmp", "."])
        os.replace(str(out) + ".tmp", out)
        log(f"base rootfs in {time.monotonic() - t0:.0f}s")
    return out


def _clean_rootfs(root: Path) -> None:
    for rel in ("var/cache/apt/archives", "var/lib/apt/lists", "var/log", "tmp"):
        d = root / rel
        if d.is_dir():
            for child in d.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif child.name != "lock":
                    child.unlink()


@dataclass
class Recipe:
    name: str                      # image repository: localhost/chartgen/<name>
    tag: Callable[[], str]
    apt_packages: list[str] = field(default_factory=list)
    files: Callable[[], dict[str, Path]] = lambda: {}   # dest in image -> host file
    cmd: list[str] = field(default_factory=lambda: ["/bin/sh"])
    env: dict[str, str] = field(default_factory=dict)
    # shell commands run in the rootfs (chroot, as root) after the packages and files are in
    commands: list[str] = field(default_factory=list)
    # "debian": the bookworm minbase rootfs; "scratch": only `files` (a distroless image)
    base: str = "debian"
    # pin key in tests/images/manifest.yaml: the executables are pruned to exactly that image's
    prune_to: str = ""


def _chroot_apt_install(root: Path, packages: list[str]) -> None:
    """Install Debian packages into the rootfs (no services are started)."""
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    (root / "etc/apt/sources.list").write_text(f"deb {debian_mirror()} {SUITE} main\n")
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "LC_ALL": "C"}
    _sh(["chroot", str(root), "apt-get", "update", "-qq"], env=env)
    _sh(["chroot", str(root), "apt-get", "install", "-y", "-qq", "--no-install-recommends",
         *packages], env=env)
    policy.unlink()
    (root / "etc/resolv.conf").write_text("")


def pack_layer(root: Path, layer: Path) -> None:
    """ROOT as one uncompressed image layer (a tar with numeric owners, sorted names)."""
    _sh(["tar", "--numeric-owner", "--xattrs", "--sort=name", "-C", str(root),
         "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
         "-cf", str(layer), "."])


def _oci_archive(root: Path, ref: str, recipe: Recipe, out: Path) -> None:
    """Pack ROOT as a one-layer OCI image archive (uncompressed layer)."""
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        lay = Path(tmp)
        blobs = lay / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        layer = lay / "layer.tar"
        pack_layer(root, layer)

        def put(data: bytes | Path, media: str) -> dict:
            if isinstance(data, Path):
                h = hashlib.sha256()
                with open(data, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                digest, size = h.hexdigest(), data.stat().st_size
                data.rename(blobs / digest)
            else:
                digest, size = hashlib.sha256(data).hexdigest(), len(data)
                (blobs / digest).write_bytes(data)
            return {"mediaType": media, "digest": f"sha256:{digest}", "size": size}

        layer_desc = put(layer, "application/vnd.oci.image.layer.v1.tar")
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", **recipe.env}
        cfg = {
            "architecture": "amd64", "os": "linux",
            "config": {"Env": [f"{k}={v}" for k, v in env.items()], "Cmd": recipe.cmd,
                       "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
            "history": [{"created_by": f"localkube image {recipe.name}"}],
        }
        cfg_desc = put(json.dumps(cfg, sort_keys=True).encode(),
                       "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": cfg_desc, "layers": [layer_desc]}
        man_desc = put(json.dumps(manifest, sort_keys=True).encode(),
                       "application/vnd.oci.image.manifest.v1+json")
        man_desc["annotations"] = {"io.containerd.image.name": ref,
                                   "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]}
        man_desc["platform"] = {"architecture": "amd64", "os": "linux"}
        (lay / "index.json").write_text(json.dumps(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [man_desc]}))
        (lay / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        with tarfile.open(str(out) + ".tmp", "w") as tf:
            for name in ("oci-layout", "index.json", "blobs"):
                tf.add(lay / name, arcname=name)
        os.replace(str(out) + ".tmp", out)


@dataclass
class ArchiveImage:
    """One image of a docker-save archive: its names and its layers (uncompressed tars,
    bottom first; images that list the same layer file share it in the archive)."""
    refs: list[str]
    layers: list[Path]
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def docker_archive(images: list[ArchiveImage], out: Path) -> None:
    """Write IMAGES as one docker-save archive (what `docker load`, `ctr images import` and
    kind read), no registry involved. `repositories` comes first: kind's node-image build
    takes the archive's tags from the first metadata entry it meets."""
    digests: dict[Path, str] = {}
    for img in images:
        for layer in img.layers:
            if layer not in digests:
                digests[layer] = _sha256_file(layer)
    manifest, repositories, configs = [], {}, {}
    for img in images:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", **img.env}
        cfg = {"architecture": "amd64", "os": "linux",
               "config": {"Env": [f"{k}={v}" for k, v in env.items()], "WorkingDir": "/",
                          "Entrypoint": img.entrypoint, "Cmd": img.cmd},
               "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digests[l]}" for l in img.layers]},
               "history": [{"created_by": f"chartgen {img.refs[0]}"} for _ in img.layers]}
        data = json.dumps(cfg, sort_keys=True).encode()
        cfg_name = f"{hashlib.sha256(data).hexdigest()}.json"
        configs[cfg_name] = data
        manifest.append({"Config": cfg_name, "RepoTags": img.refs,
                         "Layers": [f"{digests[l]}/layer.tar" for l in img.layers]})
        for ref in img.refs:
            repo, tag = ref.rsplit(":", 1)
            repositories.setdefault(repo, {})[tag] = digests[img.layers[-1]]

    def add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        tf.addfile(info, io.BytesIO(data))

    with tarfile.open(str(out) + ".tmp", "w") as tf:
        add_bytes(tf, "repositories", json.dumps(repositories).encode())
        add_bytes(tf, "manifest.json", json.dumps(manifest).encode())
        for name, data in configs.items():
            add_bytes(tf, name, data)
        for layer, digest in digests.items():
            tf.add(layer, arcname=f"{digest}/layer.tar")
    os.replace(str(out) + ".tmp", out)


def build_image(recipe: Recipe, force: bool = False) -> tuple[str, Path]:
    """Build the OCI archive for RECIPE (cached by name and tag); returns (ref, path)."""
    tag = recipe.tag()
    ref = f"localhost/chartgen/{recipe.name}:{tag}"
    out = images_dir() / f"{recipe.name}-{tag}.oci.tar"
    if out.exists() and not force:
        return ref, out
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        root = Path(tmp) / "rootfs"
        root.mkdir()
        if recipe.base == "debian":
            _sh(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-xf", str(base_rootfs_tarball())])
        else:
            _scratch_root(root)
        if recipe.apt_packages:
            _chroot_apt_install(root, recipe.apt_packages)
        for dest, src in recipe.files().items():
            target = root / dest.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        for command in recipe.commands:
            _sh(["chroot", str(root), "/bin/sh", "-ec", command],
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})
        if recipe.prune_to:
            _prune(root, recipe.prune_to)
        _clean_rootfs(root)
        _oci_archive(root, ref, recipe, out)
    log(f"image {ref} packed in {time.monotonic() - t0:.0f}s ({out.stat().st_size >> 20} MiB)")
    return ref, out


def pause_archive() -> tuple[str, Path]:
    """The pod sandbox image: one static binary, nothing else."""
    out = images_dir() / f"pause-{build.PAUSE_VERSION}.oci.tar"
    if not out.exists():
        with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
            root = Path(tmp) / "rootfs"
            root.mkdir()
            shutil.copy2(build.build_pause() / "pause", root / "pause")
            recipe = Recipe(name="pause", tag=lambda: build.PAUSE_VERSION, cmd=["/pause"])
            _oci_archive(root, PAUSE_IMAGE, recipe, out)
    return PAUSE_IMAGE, out


def ctr_import(archive: Path, address: Path) -> None:
    _sh(["ctr", "--address", str(address), "-n", "k8s.io", "images", "import", str(archive)])


# ---- what the default images hold (tests/images/manifest.yaml) ----------------

MANIFEST = config.REPO_ROOT / "tests" / "images" / "manifest.yaml"
BIN_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin")


def _manifest(key: str) -> dict:
    import yaml

    return yaml.safe_load(MANIFEST.read_text())[key]


def _scratch_root(root: Path) -> None:
    """What distroless/static has besides the binaries: users, /tmp, CA-less /etc."""
    for d in ("etc", "tmp", "home/nonroot", "var/lib"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/sbin/nologin\n"
                                     "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
    (root / "etc/group").write_text("root:x:0:\nnonroot:x:65532:\n")


def _prune(root: Path, key: str) -> None:
    """Delete every executable the image pinned under KEY does not hold: its Debian packages'
    own executables and its listed files stay, /bin/sh stays its shell, the rest goes."""
    entry = _manifest(key)
    keep = {"/bin/sh"} | set(entry.get("files", []))
    names = {os.path.basename(f) for f in entry.get("files", [])}
    for package in entry.get("debian", []):
        listed = subprocess.run(["chroot", str(root), "dpkg-query", "-L", package], text=True,
                                capture_output=True, check=True).stdout.split()
        keep.update(p for p in listed if os.path.dirname(p).lstrip("/") in BIN_DIRS)
    # merged /usr: /bin/x of a package list is /usr/bin/x on disk
    keep |= {f"/usr{p}" for p in keep if p.startswith(("/bin/", "/sbin/"))}
    for d in BIN_DIRS:
        folder = root / d
        if not folder.is_dir() or folder.is_symlink():
            continue
        for item in folder.iterdir():
            path = f"/{d}/{item.name}"
            if path in keep or item.name in names:
                continue
            if item.is_file() or item.is_symlink():
                item.unlink()


def _etcd_files() -> dict[str, Path]:
    d = build.build_etcd()
    return {f"/usr/local/bin/{n}": d / n for n in ("etcd", "etcdctl", "etcdutl")}


def _etcd_tools_files() -> dict[str, Path]:
    d = build.build_etcd()
    return {"/bin/sh": Path("/bin/bash-static"), **{f"/usr/local/bin/{n}": d / n for n in ("etcd", "etcdctl")}}


def _kubectl_files() -> dict[str, Path]:
    return {"/bin/kubectl": build.binaries()["kubectl"]}


def _datasrv_files() -> dict[str, Path]:
    return {"/usr/local/bin/datasrv": Path(__file__).with_name("files") / "datasrv.py"}


RECIPES: dict[str, Recipe] = {
    # gcr.io/etcd-development/etcd: the etcd binaries and nothing else (no shell)
    "etcd": Recipe(name="etcd", tag=lambda: config.version("ETCD_VERSION"), base="scratch",
                   files=_etcd_files, cmd=["/usr/local/bin/etcd"]),
    # registry.k8s.io/etcd <= 3.6.4-0: bash-static as /bin/sh, etcd and etcdctl, no coreutils
    "etcd-tools": Recipe(name="etcd-tools", tag=lambda: f"{config.version('ETCD_VERSION')}-bs1", base="scratch",
                         files=_etcd_tools_files, cmd=["/bin/sh"]),
    # registry.k8s.io/kubectl: only the static kubectl (no shell, no cp)
    "kubectl": Recipe(name="kubectl", tag=lambda: config.version("KUBERNETES_VERSION"), base="scratch",
                      files=_kubectl_files, cmd=["/bin/kubectl"]),
    # redis: Debian's redis-server, redis-sentinel and redis-cli on a userland pruned to the
    # official image's (tests/images/manifest.yaml), as uid/gid 999 like the official image
    # (Debian's /etc/redis is redis-only, 2770, and the chart mounts its config under it)
    "redis": Recipe(name="redis", tag=lambda: f"{SUITE}-r3",
                    apt_packages=["redis-server", "redis-sentinel", "redis-tools"],
                    cmd=["redis-server"], prune_to="REDIS_IMAGE",
                    commands=["groupmod -g 999 redis && usermod -u 999 -g 999 redis"
                              " && chown -R 999:999 /etc/redis /var/lib/redis"]),
    # mariadb: Debian's MariaDB 10.11 (server, client, mariadb-backup, socat and the official
    # image's other tools) pruned to the official mariadb:11.4 image's tool set: only the
    # mariadb* names (tests/images/manifest.yaml), the chart runs it as uid 999
    "mariadb": Recipe(name="mariadb", tag=lambda: f"{SUITE}-m1",
                      apt_packages=["mariadb-server", "mariadb-client", "mariadb-backup", "socat", "procps",
                                    "psmisc", "gawk", "openssl"],
                      cmd=["mariadbd"], prune_to="MARIADB_IMAGE"),
    # debian:<suite>-slim (the component chart's helm test image): the minbase system pruned to
    # the official slim image's executables (dash, bash, coreutils, getent, ...)
    "debian": Recipe(name="debian", tag=lambda: f"{SUITE}-s1", cmd=["/bin/bash"], prune_to="DEBIAN_IMAGE"),
    # test-only: the component e2e's server (Debian's python3 + localkube/files/datasrv.py), an
    # HTTP server that keeps files on its volume; any uid, read-only root file system
    "datasrv": Recipe(name="datasrv", tag=lambda: f"{SUITE}-d1", apt_packages=["python3"],
                      files=_datasrv_files, cmd=["/usr/bin/python3", "/usr/local/bin/datasrv"],
                      env={"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
                      commands=["chmod 0755 /usr/local/bin/datasrv"]),
}


def image(name: str, address: Path | None, force: bool = False) -> str:
    """Build image NAME (cached archive) and, when a containerd ADDRESS is given,
    import it unless containerd already has it (FORCE rebuilds and re-imports)."""
    if name not in RECIPES:
        raise KeyError(f"unknown image {name!r}; known: {', '.join(sorted(RECIPES))}")
    ref, archive = build_image(RECIPES[name], force=force)
    if address is not None:
        have = subprocess.run(["ctr", "--address", str(address), "-n", "k8s.io", "images",
                               "ls", "-q"], text=True, stdout=subprocess.PIPE).stdout.split()
        if force or ref not in have:
            t0 = time.monotonic()
            ctr_import(archive, address)
            log(f"imported {ref} in {time.monotonic() - t0:.1f}s")
    return ref
