"""kind's base image, made here: kind's own ``images/base`` recipe applied to a Debian bookworm
rootfs instead of pulling ``kindest/base``.

The recipe's files (entrypoint, systemd units, containerd config, sysctls) are read at build
time from kind's Go module at $KIND_VERSION (``go mod download``), never copied into this
repository. Where kind builds containerd, runc, crictl and the CNI plugins from source, the
node gets Debian's containerd 1.6, runc and containernetworking-plugins, and the shelf's crictl. A thin ``ctr`` wrapper covers what Debian's ctr 1.6 lacks and kind calls.

The image is cached in the project's Docker engine under a tag derived from every input, so
it is rebuilt only when a pin or this recipe changes.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from chartgen.versions import pin
from tests.infra import images, shelf
from tests.infra.shelf import log

from . import dockerd

SUITE = "bookworm"   # kind's node runs systemd, which on trixie (257) refuses this machine's cgroup v1

REPOSITORY = "localhost/chartgen/kind-base"
RECIPE_VERSION = "1"   # bump when this module changes what goes into the image
# kind's package list (images/base/Dockerfile) less the network-storage ones, plus what kind
# builds from source (containerd, runc, CNI plugins) and ipset for the CNI (kube-router).
PACKAGES = ["systemd", "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux",
            "mount", "kmod", "libseccomp2", "pigz", "fuse-overlayfs", "e2fsprogs", "bash",
            "ca-certificates", "curl", "jq", "procps", "containerd", "runc",
            "containernetworking-plugins", "ipset"]

# Debian's ctr 1.6 has no `ctr info` (kind's node-image build waits on it) and no
# `images import --label` (kind pins the images it loads at build time).
CTR_WRAPPER = """#!/bin/sh
# ctr wrapper (kindkube): Debian's ctr 1.6 lacks `ctr info` and `images import --label`,
# which kind's node-image build calls. `info` becomes `version`; --label=... is dropped.
case " $* " in *" info "*) exec /usr/bin/ctr version ;; esac
for arg; do
  shift
  case $arg in --label=*) ;; *) set -- "$@" "$arg" ;; esac
done
exec /usr/bin/ctr "$@"
"""

DOCKERFILE = """FROM {raw}
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]
"""


def kind_module_dir() -> Path:
    """kind's module source at $KIND_VERSION, from the Go module cache (downloaded if needed)."""
    ver = pin("KIND_VERSION")
    out = subprocess.run(["go", "mod", "download", "-json", f"sigs.k8s.io/kind@{ver}"], cwd="/",
                         text=True, stdout=subprocess.PIPE, check=True).stdout
    return Path(json.loads(out)["Dir"])


def tag() -> str:
    inputs = json.dumps([RECIPE_VERSION, pin("KIND_VERSION"), pin("CRICTL_VERSION"),
                         PACKAGES, CTR_WRAPPER, DOCKERFILE, SUITE])
    return f"{REPOSITORY}:{pin('KIND_VERSION')}-{hashlib.sha256(inputs.encode()).hexdigest()[:10]}"


def _copy_tree(src: Path, dst: Path, mode: int) -> None:
    """Copy files (not directories' modes) with MODE, like the Dockerfile's COPY --chmod."""
    for f in src.rglob("*"):
        if f.is_file():
            target = dst / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
            target.chmod(mode)


def _apply_kind_recipe(root: Path, kind_files: Path) -> None:
    """The steps of kind's images/base/Dockerfile that shape the rootfs."""
    _copy_tree(kind_files / "usr/local/bin", root / "usr/local/bin", 0o755)
    _copy_tree(kind_files / "kind", root / "kind", 0o644)
    _copy_tree(kind_files / "kind/bin", root / "kind/bin", 0o755)
    (root / "kind").chmod(0o755)
    _copy_tree(kind_files / "LICENSES", root / "LICENSES", 0o644)
    _copy_tree(kind_files / "etc", root / "etc", 0o644)
    # what kind installs into /usr/local and /opt from its own builds: here, Debian's
    (root / "usr/local/bin/containerd").unlink(missing_ok=True)
    (root / "usr/local/bin/containerd").symlink_to("/usr/bin/containerd")
    (root / "usr/local/bin/ctr").write_text(CTR_WRAPPER)
    (root / "usr/local/bin/ctr").chmod(0o755)
    shutil.copy2(shelf.path("crictl"), root / "usr/local/bin/crictl")
    cni = root / "opt/cni/bin"
    cni.mkdir(parents=True, exist_ok=True)
    for plugin in (root / "usr/lib/cni").iterdir():
        shutil.copy2(plugin, cni / plugin.name)
    script = """
set -e
find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete
rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
echo ReadKMsg=no >> /etc/systemd/journald.conf
ln -sf /usr/lib/systemd/systemd /sbin/init
systemctl enable kubelet.service containerd.service undo-mount-hacks.service
systemctl mask systemd-binfmt.service
mkdir -p /etc/kubernetes/manifests
ctr oci spec \
  | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
  | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json
rm -rf /usr/share/doc/* /usr/share/man/* /var/cache/debconf/*
"""
    subprocess.run(["chroot", str(root), "/bin/sh", "-c", script], check=True,
                   env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})


def exists(ref: str) -> bool:
    return dockerd.docker("image", "inspect", ref, check=False).returncode == 0


def build(force: bool = False) -> str:
    """The base image's reference, built (in the project's Docker engine) when missing."""
    ref = tag()
    if exists(ref) and not force:
        return ref
    t0 = time.monotonic()
    kind_files = kind_module_dir() / "images/base/files"
    base = images.minbase(SUITE)
    work = shelf.work_dir("kind-base-image")
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        root = Path(tmp) / "rootfs"
        root.mkdir()
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-xf", str(base)], check=True)
        log(f"base image: apt-get install {len(PACKAGES)} packages into the rootfs")
        images.apt_install(root, SUITE, PACKAGES)
        _apply_kind_recipe(root, kind_files)
        images.clean(root)
        raw = ref.replace(REPOSITORY, REPOSITORY + "-rootfs")
        tar = subprocess.Popen(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", "-", "."],
                               stdout=subprocess.PIPE)
        dockerd.docker("import", "-", raw, stdin=tar.stdout)
        if tar.wait() != 0:
            raise RuntimeError("tar of the base rootfs failed")
    dockerd.docker("build", "-t", ref, "-", input=DOCKERFILE.format(raw=raw))
    dockerd.docker("rmi", raw, check=False)
    log(f"base image {ref} built in {time.monotonic() - t0:.0f}s")
    return ref
