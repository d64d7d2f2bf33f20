"""Container images without a registry: root file systems made with debootstrap and Debian's
packages (trixie, the suite of the official redis, valkey and postgres images, for the servers
under test), each pruned to exactly the executables of the default image it stands for
(tests/images/manifest.yaml), kept as a directory (the member-level tests chroot into it) and
packed as a one-layer OCI archive (the e2e cluster loads it).

    rootfs("redis")   -> Path        the pruned root file system (cached by its recipe's hash)
    archive("redis")  -> (ref, Path) localhost/chartgen/redis:<tag> as an OCI archive
    tools("REDIS_IMAGE") -> Tools    what a container of that default image may call

A new test image is one Recipe in RECIPES.
"""
from __future__ import annotations

import functools
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
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from chartgen.versions import ImageRef, pin

from . import shelf
from .shelf import log

MANIFEST = Path(__file__).resolve().parents[1] / "images" / "manifest.yaml"
BIN_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin")
SHELLS = {"dash": "/bin/dash", "bash": "/bin/bash", "bash-static": "/bin/bash-static"}
RECIPE_FORMAT = "2"   # bump when this module changes what goes into every image


def images_dir() -> Path:
    d = shelf.cache() / "images"
    d.mkdir(parents=True, exist_ok=True)
    return d


def debian_mirror() -> str:
    src = Path("/etc/apt/sources.list.d/debian.sources")
    if src.exists():
        m = re.search(r"^URIs:\s*(\S+/debian)/?\s*$", src.read_text(), re.M)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def sh(cmd: list[str], **kw) -> str:
    proc = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n" + "\n".join(proc.stdout.splitlines()[-30:]))
    return proc.stdout


def minbase(suite: str) -> Path:
    """`debootstrap --variant=minbase SUITE`, made once and cached as a tarball."""
    out = images_dir() / f"debian-{suite}-minbase.tar"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        root = Path(tmp) / "rootfs"
        log(f"debootstrap --variant=minbase {suite} from {debian_mirror()}")
        t0 = time.monotonic()
        sh(["debootstrap", "--variant=minbase", suite, str(root), debian_mirror()])
        clean(root)
        sh(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", f"{out}.tmp", "."])
        os.replace(f"{out}.tmp", out)
        log(f"{suite} minbase in {time.monotonic() - t0:.0f}s")
    return out


def clean(root: Path) -> None:
    for rel in ("var/cache/apt/archives", "var/lib/apt/lists", "var/log", "tmp"):
        d = root / rel
        if d.is_dir():
            for child in d.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif child.name != "lock":
                    child.unlink()


def apt_install(root: Path, suite: str, packages: list[str]) -> None:
    """Debian packages into ROOT (chroot; no service is started)."""
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    (root / "etc/apt/sources.list").write_text(f"deb {debian_mirror()} {suite} main\n")
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
    sh(["chroot", str(root), "apt-get", "update", "-qq"], env=env)
    sh(["chroot", str(root), "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env=env)
    policy.unlink()
    (root / "etc/resolv.conf").write_text("")


@functools.cache
def manifest() -> dict[str, dict]:
    return yaml.safe_load(MANIFEST.read_text())


@dataclass
class Recipe:
    stands_for: str = ""               # the manifest key (default image) whose tools it has exactly
    suite: str = "trixie"              # Debian suite of the root; "" = scratch (only FILES)
    packages: list[str] = field(default_factory=list)
    files: Callable[[], dict[str, Path]] = lambda: {}     # path in the image -> file here
    commands: list[str] = field(default_factory=list)     # sh -ec in the root (chroot) after packages
    cmd: list[str] = field(default_factory=lambda: ["/bin/sh"])
    env: dict[str, str] = field(default_factory=dict)
    pins: tuple[str, ...] = ()         # versions.env keys the FILES come from (part of the tag)

    def key(self, name: str) -> str:
        entry = manifest().get(self.stands_for, {})
        data = [RECIPE_FORMAT, name, self.stands_for, entry, self.suite, self.packages, sorted(self.files_spec()),
                self.commands, self.cmd, self.env, {p: pin(p) for p in self.pins}]
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:10]

    def files_spec(self) -> list[str]:
        return [f"{dest}<-{src.name}" for dest, src in self.files().items()]


def _shelf_files(dest_names: dict[str, str]) -> Callable[[], dict[str, Path]]:
    return lambda: {dest: shelf.path(name) for dest, name in dest_names.items()}


def _debs(pool: str, debs: dict[str, str]) -> Callable[[], dict[str, Path]]:
    """Debian packages of a release older than the suite's (its pool keeps them), fetched once
    into the cache and checked against their sha256 (DEBS: file name -> sha256), put under
    /tmp/debs/ in the root for a recipe's commands to install."""
    def fetch() -> dict[str, Path]:
        folder = images_dir() / "debs"
        folder.mkdir(exist_ok=True)
        out = {}
        for name, sha in debs.items():
            path = folder / name
            if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != sha:
                part = path.with_suffix(".part")
                url = f"{debian_mirror()}/pool/main/{pool}/{name}"
                log(f"fetching {url}")
                with urllib.request.urlopen(url, timeout=300) as resp, open(part, "wb") as fh:
                    shutil.copyfileobj(resp, fh)
                got = hashlib.sha256(part.read_bytes()).hexdigest()
                if got != sha:
                    raise RuntimeError(f"{name}: sha256 {got}, expected {sha}")
                part.rename(path)
            out[f"/tmp/debs/{name}"] = path
        return out
    return fetch


# docker.io/library/postgres:17.11, the minor release before the default's (the minor-version
# change test): trixie's postgresql-17 and its client at 17.11, installed over the suite's
_PG_PREVIOUS = {"postgresql-17_17.11-0+deb13u1_amd64.deb":
                "d2ce1ddffafa783f9acda4c92c86fc21e8288bff3782d739294f14fa797d7886",
                "postgresql-client-17_17.11-0+deb13u1_amd64.deb":
                "9d8558f8dd57c8e92e218a20698383575d53742ca3f9e7c2b7fe5f246d5216ae"}
_PG_COMMANDS = ["rm -rf /etc/postgresql/17 /var/lib/postgresql/17",   # the package's "main" cluster
                "groupmod -g 999 postgres && usermod -u 999 -g 999 postgres",
                "mkdir -p /var/run/postgresql && chmod 3777 /var/run/postgresql"
                " && chown -R 999:999 /var/lib/postgresql /var/run/postgresql"]
_PG_ENV = {"PG_MAJOR": "17", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:"
                                     "/usr/lib/postgresql/17/bin"}
_PG_PACKAGES = ["postgresql-17", "gosu", "locales", "xz-utils", "zstd"]


def _datasrv() -> dict[str, Path]:
    return {"/usr/local/bin/datasrv": Path(__file__).with_name("datasrv.py")}


MANIFEST_KEYS_WITHOUT_IMAGE = ()
RECIPES: dict[str, Recipe] = {
    # gcr.io/etcd-development/etcd: the etcd binaries and nothing else (no shell)
    "etcd": Recipe("ETCD_IMAGE", suite="", pins=("ETCD_VERSION",), cmd=["/usr/local/bin/etcd"],
                   files=_shelf_files({f"/usr/local/bin/{n}": n for n in ("etcd", "etcdctl", "etcdutl")})),
    # registry.k8s.io/etcd:3.6.4-0: bash-static as /bin/sh, etcd and etcdctl, no coreutils
    "etcd-tools": Recipe("ETCD_TOOLS_IMAGE", packages=["bash-static"], pins=("ETCD_VERSION",),
                         files=_shelf_files({f"/usr/local/bin/{n}": n for n in ("etcd", "etcdctl")})),
    # registry.k8s.io/kubectl: only the static kubectl (no shell, no cp)
    "kubectl": Recipe("KUBECTL_IMAGE", suite="", pins=("KUBERNETES_VERSION",), cmd=["/bin/kubectl"],
                      files=_shelf_files({"/bin/kubectl": "kubectl"})),
    # redis (trixie-slim + redis 8): trixie's redis-server/-sentinel/-tools 8.0, as uid/gid 999
    # like the official image (Debian's /etc/redis is redis-only, 2770; the chart mounts its config there)
    "redis": Recipe("REDIS_IMAGE", packages=["redis-server", "redis-sentinel", "redis-tools"], cmd=["redis-server"],
                    commands=["groupmod -g 999 redis && usermod -u 999 -g 999 redis"
                              " && chown -R 999:999 /etc/redis /var/lib/redis"]),
    # valkey/valkey:8.1 (trixie-slim + valkey 8.1): trixie's valkey-server/-sentinel/-tools 8.1, the
    # redis-* links the image's `make install` makes, uid/gid 999 like the image
    "valkey": Recipe("VALKEY_IMAGE", packages=["valkey-server", "valkey-sentinel", "valkey-tools"],
                     cmd=["valkey-server"],
                     commands=["for n in server cli sentinel benchmark check-aof check-rdb; do "
                               "ln -s /usr/bin/valkey-$n /usr/local/bin/redis-$n; done",
                               "groupmod -g 999 valkey && usermod -u 999 -g 999 valkey"
                               " && chown -R 999:999 /etc/valkey /var/lib/valkey"]),
    # mariadb:11.8 (Ubuntu noble + MariaDB's packages): trixie's MariaDB 11.8, the image's tool set
    # (the mysql* names trixie's packages still carry are pruned: the image has none)
    "mariadb": Recipe("MARIADB_IMAGE", packages=["mariadb-server", "mariadb-client", "mariadb-backup", "socat",
                                                 "procps", "psmisc", "gawk", "openssl", "iproute2", "lsof", "rsync",
                                                 "gosu"], cmd=["mariadbd"]),
    # postgres:17 (trixie-slim + PGDG's postgresql-17): trixie's postgresql-17 at the image's paths
    # (/usr/lib/postgresql/17/bin), uid/gid 999 like the image, its PG_MAJOR and PATH
    "postgres": Recipe("POSTGRES_IMAGE", packages=_PG_PACKAGES, cmd=["postgres"], env=_PG_ENV,
                       commands=_PG_COMMANDS),
    # test-only: postgres:17.11, the same with the previous minor release's server and client
    # (a downgrade by dpkg: no service started, the package's cluster removed as above)
    "postgres-previous": Recipe("POSTGRES_PREVIOUS_IMAGE", packages=_PG_PACKAGES, cmd=["postgres"], env=_PG_ENV,
                                files=_debs("p/postgresql-17", _PG_PREVIOUS),
                                commands=["printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d"
                                          " && chmod 755 /usr/sbin/policy-rc.d"
                                          " && DEBIAN_FRONTEND=noninteractive dpkg -i /tmp/debs/*.deb"
                                          " && rm -rf /tmp/debs /usr/sbin/policy-rc.d", *_PG_COMMANDS]),
    # mysql:8.4 (Oracle Linux 9): its shell and userland; mysqld itself has no stand-in here
    "mysql": Recipe("MYSQL_IMAGE", packages=["gawk", "curl", "openssl"]),
    # mongo:8.0 (Ubuntu noble): its shell and userland; mongod and mongosh have no stand-in here
    "mongo": Recipe("MONGO_IMAGE", packages=["jq", "numactl", "procps", "openssl", "gosu"]),
    # debian:trixie-slim: the base system, nothing added (the component chart's helm test)
    "debian": Recipe("DEBIAN_IMAGE", cmd=["/bin/bash"]),
    # test-only: the component e2e's server (python3 + datasrv.py, an HTTP server that keeps files
    # on its volume); stands for no default image
    "datasrv": Recipe(packages=["python3"], files=_datasrv, cmd=["/usr/bin/python3", "/usr/local/bin/datasrv"],
                      env={"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
                      commands=["chmod 0755 /usr/local/bin/datasrv"]),
}


def recipe_for(key: str) -> str:
    """The recipe that stands for the default image pinned under KEY."""
    for name, r in RECIPES.items():
        if r.stands_for == key:
            return name
    raise KeyError(f"no test image stands for {key} (tests/infra/images.py RECIPES)")


def tag(name: str) -> str:
    r = RECIPES[name]
    return f"{r.suite or 'scratch'}-{r.key(name)}"


def ref(name: str) -> str:
    return f"localhost/chartgen/{name}:{tag(name)}"


def _scratch(root: Path) -> None:
    """What distroless/static holds besides the binaries: users, groups, /tmp."""
    for d in ("etc", "tmp", "home/nonroot", "var/lib"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/sbin/nologin\n"
                                     "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
    (root / "etc/group").write_text("root:x:0:\nnonroot:x:65532:\n")


def _prune(root: Path, key: str) -> None:
    """Exactly the executables of the image pinned under KEY: its Debian packages' own executables
    and its listed files stay (a listed file the packages put elsewhere gets a link at the listed
    path), /bin/sh becomes its shell (none: no /bin/sh), everything else in the bin dirs goes."""
    entry = manifest()[key]
    shell = entry.get("shell", "none")
    keep = {"/bin/sh"} if shell != "none" else set()
    keep |= set(entry.get("files", []))
    for package in entry.get("debian", []):
        listed = subprocess.run(["chroot", str(root), "dpkg-query", "-L", package], text=True,
                                capture_output=True, check=True).stdout.split()
        keep.update(p for p in listed if os.path.dirname(p).lstrip("/") in BIN_DIRS)
    for path in entry.get("files", []):
        target = root / path.lstrip("/")
        if not os.path.lexists(target):
            found = next((f"/{d}/{Path(path).name}" for d in BIN_DIRS if not (root / d).is_symlink()
                          and os.path.lexists(root / d / Path(path).name) and f"/{d}" != os.path.dirname(path)), None)
            if found:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(found)
                keep.add(found)
    keep |= {f"/usr{p}" for p in keep if p.startswith(("/bin/", "/sbin/"))}   # merged /usr
    if shell != "none":
        sh_path = root / "bin/sh"
        sh_path.unlink(missing_ok=True)
        if shell == "bash-static":   # the file itself (the images copy it to /bin/sh)
            shutil.copy2(root / "bin/bash-static", sh_path)
        else:
            sh_path.symlink_to(Path(SHELLS[shell]).name)
    for d in BIN_DIRS:
        folder = root / d
        if not folder.is_dir() or folder.is_symlink():
            continue
        for item in folder.iterdir():
            if f"/{d}/{item.name}" not in keep and (item.is_file() or item.is_symlink()):
                item.unlink()


def rootfs(name: str) -> Path:
    """Recipe NAME's root file system, built when missing (cached by the recipe's hash)."""
    recipe = RECIPES[name]
    out = images_dir() / f"{name}-{tag(name)}"
    root = out / "rootfs"
    if (out / "complete").exists():
        return root
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.monotonic()
    root.mkdir()
    if recipe.suite:
        sh(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-xf", str(minbase(recipe.suite))])
        if recipe.packages:
            apt_install(root, recipe.suite, recipe.packages)
    else:
        _scratch(root)
    for dest, src in recipe.files().items():
        target = root / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    for command in recipe.commands:
        sh(["chroot", str(root), "/bin/sh", "-ec", command], env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})
    if recipe.stands_for:
        _prune(root, recipe.stands_for)
    if recipe.suite:
        clean(root)
        for rel in ("usr/share/doc", "usr/share/man", "usr/share/locale"):
            shutil.rmtree(root / rel, ignore_errors=True)
    (out / "config.json").write_text(json.dumps({"cmd": recipe.cmd, "env": recipe.env}))
    (out / "complete").write_text("")
    log(f"image root {name} ({tag(name)}) in {time.monotonic() - t0:.0f}s")
    return root


# ---- what a container of a default image may call ------------------------------------------

class MissingTool(RuntimeError):
    """A container calls something its image does not have."""


@dataclass(frozen=True)
class Tools:
    key: str
    shell: str                      # none | bash-static | dash | bash
    executables: frozenset[str]     # paths in the image
    absent_here: frozenset[str]     # paths the image has that no package here provides

    def resolve(self, argv0: str) -> str:
        """The image's path of a container's command ARGV0 (absolute, or a name on PATH)."""
        for path in sorted(self.executables | self.absent_here):
            if argv0 == path or ("/" not in argv0 and os.path.basename(path) == argv0):
                return path
        raise MissingTool(f"{self.key} ({pin(self.key)}) has no {argv0}"
                          + (" and no shell at all" if self.shell == "none" else ""))


@functools.cache
def tools(key: str) -> Tools:
    """The executables a container of the image pinned under KEY has: those of its test image's
    root, plus what the manifest lists that nothing here can stand in for (mongod, mysqld...)."""
    entry = manifest()[key]
    root = rootfs(recipe_for(key))
    found = set()
    for d in BIN_DIRS:
        folder = root / d
        if folder.is_dir() and not folder.is_symlink():
            found |= {f"/{d}/{p.name}" for p in folder.iterdir() if os.path.lexists(p)}
    for d in ("bin", "sbin"):   # merged /usr: /bin/x is /usr/bin/x
        if (root / d).is_symlink():
            found |= {f"/{d}/{p[len(f'/usr/{d}/'):]}" for p in list(found) if p.startswith(f"/usr/{d}/")}
    absent = set(entry.get("absent_here", [])) | {f for f in entry.get("files", []) if f not in found}
    return Tools(key, entry.get("shell", "none"), frozenset(found), frozenset(absent))


def key_of(image: str) -> str:
    """The pin key of a rendered container image reference (e.g. ETCD_TOOLS_IMAGE)."""
    wanted = str(ImageRef.parse(image))
    for key in manifest():
        if str(ImageRef.parse(pin(key))) == wanted:
            return key
    raise KeyError(f"{image}: not a default image listed in {MANIFEST}")


# ---- image archives -------------------------------------------------------------------------

def pack_layer(root: Path, layer: Path) -> None:
    """ROOT as one uncompressed image layer (numeric owners, sorted names)."""
    sh(["tar", "--numeric-owner", "--xattrs", "--sort=name", "-C", str(root),
        "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*", "-cf", str(layer), "."])


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _config(env: dict[str, str], entrypoint, cmd, diff_ids: list[str], created_by: str) -> dict:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", **env}
    return {"architecture": "amd64", "os": "linux",
            "config": {"Env": [f"{k}={v}" for k, v in env.items()], "Entrypoint": entrypoint, "Cmd": cmd,
                       "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": created_by} for _ in diff_ids]}


def archive(name: str) -> tuple[str, Path]:
    """Recipe NAME as a one-layer OCI image archive (cached); returns (reference, path)."""
    image = ref(name)
    out = images_dir() / f"{name}-{tag(name)}.oci.tar"
    if out.exists():
        return image, out
    root = rootfs(name)
    conf = json.loads((root.parent / "config.json").read_text())
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        blobs = Path(tmp) / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        layer = Path(tmp) / "layer.tar"
        pack_layer(root, layer)

        def put(data: bytes | Path, media: str) -> dict:
            if isinstance(data, Path):
                digest, size = _sha256(data), data.stat().st_size
                data.rename(blobs / digest)
            else:
                digest, size = hashlib.sha256(data).hexdigest(), len(data)
                (blobs / digest).write_bytes(data)
            return {"mediaType": media, "digest": f"sha256:{digest}", "size": size}

        layer_desc = put(layer, "application/vnd.oci.image.layer.v1.tar")
        cfg = _config(conf["env"], None, conf["cmd"], [layer_desc["digest"]], f"chartgen test image {name}")
        cfg_desc = put(json.dumps(cfg, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
        manifest_ = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                     "config": cfg_desc, "layers": [layer_desc]}
        desc = put(json.dumps(manifest_, sort_keys=True).encode(), "application/vnd.oci.image.manifest.v1+json")
        desc["annotations"] = {"io.containerd.image.name": image,
                               "org.opencontainers.image.ref.name": image.rsplit(":", 1)[1]}
        desc["platform"] = {"architecture": "amd64", "os": "linux"}
        (Path(tmp) / "index.json").write_text(json.dumps(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [desc]}))
        (Path(tmp) / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        with tarfile.open(f"{out}.tmp", "w") as tf:
            for part in ("oci-layout", "index.json", "blobs"):
                tf.add(Path(tmp) / part, arcname=part)
        os.replace(f"{out}.tmp", out)
    return image, out


@dataclass
class ArchiveImage:
    """One image of a docker-save archive: its names and its layers (uncompressed tars, bottom
    first; images that list the same layer file share it in the archive)."""
    refs: list[str]
    layers: list[Path]
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)


def docker_archive(images: list[ArchiveImage], out: Path) -> None:
    """IMAGES as one docker-save archive (what `docker load`, `ctr images import` and kind read).
    `repositories` comes first: kind's node-image build takes the tags of the first entry it meets."""
    digests: dict[Path, str] = {}
    for img in images:
        for layer in img.layers:
            digests.setdefault(layer, _sha256(layer))
    manifest_, repositories, configs = [], {}, {}
    for img in images:
        cfg = _config(img.env, img.entrypoint, img.cmd, [f"sha256:{digests[x]}" for x in img.layers],
                      f"chartgen {img.refs[0]}")
        data = json.dumps(cfg, sort_keys=True).encode()
        name = f"{hashlib.sha256(data).hexdigest()}.json"
        configs[name] = data
        manifest_.append({"Config": name, "RepoTags": img.refs, "Layers": [f"{digests[x]}/layer.tar" for x in img.layers]})
        for r in img.refs:
            repo, t = r.rsplit(":", 1)
            repositories.setdefault(repo, {})[t] = digests[img.layers[-1]]

    def add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        tf.addfile(info, io.BytesIO(data))

    with tarfile.open(f"{out}.tmp", "w") as tf:
        add(tf, "repositories", json.dumps(repositories).encode())
        add(tf, "manifest.json", json.dumps(manifest_).encode())
        for name, data in configs.items():
            add(tf, name, data)
        for layer, digest in digests.items():
            tf.add(layer, arcname=f"{digest}/layer.tar")
    os.replace(f"{out}.tmp", out)


def main(argv: list[str]) -> int:
    """python -m tests.infra.images [--roots|--names] [NAME...]: build archives (default) or only
    roots; --names prints the recipes' names."""
    if "--names" in argv:
        print(" ".join(RECIPES))
        return 0
    roots_only = "--roots" in argv
    for name in [a for a in argv if not a.startswith("--")] or list(RECIPES):
        print(rootfs(name) if roots_only else archive(name)[0])
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
