"""The container images a kind node must carry, as docker-save archives built without a registry.

kind's node-image build fails on any required image it cannot pull, so every one of them is
made here from binaries built on this machine, under the exact names kubeadm and kind ask for:

| image (name asked for)                   | contents                                           |
|------------------------------------------|----------------------------------------------------|
| kube-apiserver/-controller-manager/      | the Kubernetes binary (the shelf's build)          |
|   -scheduler                             |                                                    |
| kube-proxy                               | binary + the "tools" layer (iptables, conntrack)   |
| etcd (kubeadm's tag)                     | etcd built from its Go module at $ETCD_VERSION     |
| coredns                                  | CoreDNS at $COREDNS_VERSION                        |
| pause (kubeadm's tag + containerd's)     | the shelf's static pause binary                    |
| kindnetd (kind's default CNI)            | placeholder (pause): never runs, disableDefaultCNI |
| local-path-provisioner + helper          | provisioner binary; helper = the tools layer (sh)  |
| kube-router (the CNI, our own name)      | binary + the tools layer (iptables, ipset, ip)     |

Binary images are one small layer (binaries + /etc/passwd + /tmp). The tools layer is a
Debian bookworm minbase with iptables, ipset, iproute2 and conntrack, whose ``iptables*``
commands pick the node's backend (legacy or nft) the way kubelet marks it.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from chartgen.versions import pin
from tests.infra import images, shelf
from tests.infra.images import ArchiveImage, docker_archive
from tests.infra.shelf import log

from . import base_image

TOOLS_VERSION = "1"   # bump when the tools layer recipe changes
TOOLS_PACKAGES = ["iptables", "ipset", "iproute2", "conntrack", "kmod"]
KUBE_ROUTER_IMAGE_REPO = "localhost/chartgen/kube-router"

# iptables-legacy and iptables-nft keep separate rule sets: a pod that edits the node's
# rules (kube-proxy, kube-router) must use the node's backend. kubelet creates the chain
# KUBE-IPTABLES-HINT (mangle) with it, so look for that; else go with the busier one.
XTABLES_PICK = """#!/bin/sh
# xtables-pick (kindkube): run iptables/ip6tables(-save|-restore) with the backend the node uses.
set -eu
name=${0##*/}
mode=$(cat /run/xtables-mode 2>/dev/null || true)
if [ -z "$mode" ]; then
  if xtables-nft-multi iptables-save -t mangle 2>/dev/null | grep -q KUBE-IPTABLES-HINT; then mode=nft
  elif xtables-legacy-multi iptables-save -t mangle 2>/dev/null | grep -q KUBE-IPTABLES-HINT; then mode=legacy
  else
    nft=$(xtables-nft-multi iptables-save 2>/dev/null | grep -c '^-' || true)
    legacy=$(xtables-legacy-multi iptables-save 2>/dev/null | grep -c '^-' || true)
    if [ "$legacy" -gt "$nft" ]; then mode=legacy; else mode=nft; fi
  fi
  echo "$mode" > /run/xtables-mode 2>/dev/null || true
fi
exec "xtables-$mode-multi" "$name" "$@"
"""
XTABLES_NAMES = ["iptables", "iptables-save", "iptables-restore",
                 "ip6tables", "ip6tables-save", "ip6tables-restore"]


def _artifacts() -> Path:
    return shelf.work_dir("kind-artifacts")


def kind_constants() -> dict[str, str]:
    """Image names kind's node-image build requires (from kind's source at $KIND_VERSION)."""
    src = base_image.kind_module_dir() / "pkg/build/nodeimage"
    text = (src / "const_cni.go").read_text() + (src / "const_storage.go").read_text()
    found = dict(re.findall(r'^const (\w+Image) = "([^"]+)"', text, re.M))
    conf = (base_image.kind_module_dir() / "images/base/files/etc/containerd/config.toml").read_text()
    found["sandboxImage"] = re.search(r'sandbox_image = "([^"]+)"', conf).group(1)
    return found


def kubeadm_images() -> list[str]:
    out = subprocess.run([str(shelf.path("kubeadm")), "config", "images", "list", "--kubernetes-version",
                          pin("KUBERNETES_VERSION")], text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, check=True).stdout
    return out.split()


def kube_router_ref() -> str:
    return f"{KUBE_ROUTER_IMAGE_REPO}:{pin('KUBE_ROUTER_VERSION')}"


def tools_layer() -> Path:
    """The shared Debian layer (cached by its recipe)."""
    key = hashlib.sha256(json.dumps([TOOLS_VERSION, TOOLS_PACKAGES, XTABLES_PICK]).encode()).hexdigest()[:10]
    out = _artifacts() / f"tools-layer-{key}.tar"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory(dir=shelf.work_dir("kind-tools-layer")) as tmp:
        root = Path(tmp) / "rootfs"
        root.mkdir()
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-xf",
                        str(images.minbase(base_image.SUITE))], check=True)
        log(f"tools layer: apt-get install {' '.join(TOOLS_PACKAGES)}")
        images.apt_install(root, base_image.SUITE, TOOLS_PACKAGES)
        pick = root / "usr/local/sbin/xtables-pick"
        pick.parent.mkdir(parents=True, exist_ok=True)
        pick.write_text(XTABLES_PICK)
        pick.chmod(0o755)
        for name in XTABLES_NAMES:
            link = root / "usr/sbin" / name
            link.unlink(missing_ok=True)
            link.symlink_to("/usr/local/sbin/xtables-pick")
        images.clean(root)
        for rel in ("usr/share/doc", "usr/share/man", "usr/share/locale"):
            shutil.rmtree(root / rel, ignore_errors=True)
        images.pack_layer(root, Path(str(out) + ".tmp"))
    Path(str(out) + ".tmp").rename(out)
    return out


def binary_layer(name: str, files: dict[str, Path], work: Path) -> Path:
    """A one-layer image filesystem: FILES (dest -> host path) + /etc/passwd, /etc/group, /tmp."""
    root = work / f"{name}-root"
    (root / "etc").mkdir(parents=True)
    (root / "tmp").mkdir(mode=0o1777)
    (root / "tmp").chmod(0o1777)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n")
    (root / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    for dest, src in files.items():
        target = root / dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
        target.chmod(0o755)
    layer = work / f"{name}.layer.tar"
    images.pack_layer(root, layer)
    return layer


def kube_router_archive() -> Path:
    """kube-router's image alone, for nodes that do not carry it (an upstream node image)."""
    out = _artifacts() / f"kube-router-{pin('KUBE_ROUTER_VERSION')}.tar"
    if not out.exists():
        with tempfile.TemporaryDirectory(dir=shelf.work_dir("kind-kube-router")) as tmp:
            layer = binary_layer("kube-router", {"/usr/local/bin/kube-router": shelf.path("kube-router")}, Path(tmp))
            docker_archive([ArchiveImage(refs=[kube_router_ref()], layers=[tools_layer(), layer],
                                                           entrypoint=["/usr/local/bin/kube-router"])], out)
    return out


def write_archives(bin_dir: Path) -> None:
    """The image archives of a kubernetes-server tarball, into BIN_DIR (kubernetes/server/bin):
    kube-apiserver.tar carries every image besides the other three components'."""
    want = kubeadm_images()
    kind = kind_constants()

    def asked(part: str) -> list[str]:
        refs = [r for r in want if f"/{part}:" in r]
        if not refs:
            raise RuntimeError(f"kubeadm asks for no {part} image: {want}")
        return refs

    k8s = shelf.build("kubernetes")
    bins = {n: shelf.path(n) for n in ("etcd", "etcdctl", "etcdutl", "coredns", "pause")}
    tools = tools_layer()
    work = bin_dir / ".layers"
    work.mkdir()
    try:
        def component(name: str, with_tools: bool = False) -> ArchiveImage:
            layer = binary_layer(name, {f"/usr/local/bin/{name}": k8s / name}, work)
            return ArchiveImage(refs=asked(name), layers=[tools, layer] if with_tools else [layer])

        pause = binary_layer("pause", {"/pause": bins["pause"]}, work)
        extras = [
            ArchiveImage(refs=asked("etcd"), layers=[binary_layer("etcd", {
                f"/usr/local/bin/{n}": bins[n] for n in ("etcd", "etcdctl", "etcdutl")}, work)]),
            ArchiveImage(refs=asked("coredns"), entrypoint=["/coredns"],
                                  layers=[binary_layer("coredns", {"/coredns": bins["coredns"]}, work)]),
            ArchiveImage(refs=sorted(set(asked("pause") + [kind["sandboxImage"]])),
                                  entrypoint=["/pause"], layers=[pause]),
            ArchiveImage(refs=[kind["kindnetdImage"]], entrypoint=["/pause"], layers=[pause]),
            ArchiveImage(refs=[kind["storageProvisionerImage"]], layers=[binary_layer(
                "local-path-provisioner",
                {"/usr/local/bin/local-path-provisioner": shelf.path("local-path-provisioner")}, work)]),
            ArchiveImage(refs=[kind["storageHelperImage"]], cmd=["/bin/sh"], layers=[tools]),
            ArchiveImage(refs=[kube_router_ref()], entrypoint=["/usr/local/bin/kube-router"],
                                  layers=[tools, binary_layer("kube-router", {
                                      "/usr/local/bin/kube-router": shelf.path("kube-router")}, work)]),
        ]
        docker_archive([component("kube-apiserver"), *extras], bin_dir / "kube-apiserver.tar")
        for name in ("kube-controller-manager", "kube-scheduler"):
            docker_archive([component(name)], bin_dir / f"{name}.tar")
        docker_archive([component("kube-proxy", with_tools=True)], bin_dir / "kube-proxy.tar")
    finally:
        shutil.rmtree(work, ignore_errors=True)
