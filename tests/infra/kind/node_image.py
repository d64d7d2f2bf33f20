"""kind's node image, built here: ``kind build node-image --type file`` over a
kubernetes-server tarball assembled from the binaries built on this machine.

The tarball holds what kind reads from an official release tarball: ``kubernetes/version``,
``kubernetes/server/bin/{kubeadm,kubelet,kubectl}`` and the four image archives, which
carry every image the node needs (see ``node_images``). The image is cached in the project's
Docker engine under a tag derived from every pin that goes into it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from chartgen.versions import pin
from tests.infra import shelf
from tests.infra.shelf import log

from . import base_image, dockerd, node_images

REPOSITORY = "localhost/chartgen/kind-node"
RECIPE_VERSION = "1"   # bump when node_images or this module change what goes into the image
PINS = ["KUBERNETES_VERSION", "ETCD_VERSION", "COREDNS_VERSION", "KIND_VERSION",
        "KUBE_ROUTER_VERSION", "LOCAL_PATH_PROVISIONER_VERSION"]


def tag() -> str:
    inputs = json.dumps([RECIPE_VERSION, node_images.TOOLS_VERSION, base_image.tag(),
                         {k: pin(k) for k in PINS}])
    return f"{REPOSITORY}:{pin('KUBERNETES_VERSION')}-{hashlib.sha256(inputs.encode()).hexdigest()[:10]}"


def server_tarball(out: Path) -> Path:
    """kubernetes-server-linux-amd64.tar.gz as kind's `--type file` reads it."""
    k8s = shelf.build("kubernetes")
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        top = Path(tmp) / "kubernetes"
        bin_dir = top / "server" / "bin"
        bin_dir.mkdir(parents=True)
        (top / "version").write_text(pin("KUBERNETES_VERSION") + "\n")
        for name in ("kubeadm", "kubelet", "kubectl"):
            shutil.copy2(k8s / name, bin_dir / name)
        node_images.write_archives(bin_dir)
        subprocess.run(["tar", "-C", tmp, "-I", "gzip -1", "-cf", str(out), "kubernetes"], check=True)
    return out


def build(force: bool = False) -> str:
    """The node image's reference, built when the project's engine does not have it."""
    ref = tag()
    if base_image.exists(ref) and not force:
        return ref
    base = base_image.build()
    kind = shelf.path("kind")
    t0 = time.monotonic()
    work = shelf.work_dir("kind-node-image")
    tarball = server_tarball(work / "kubernetes-server-linux-amd64.tar.gz")
    log(f"kubernetes-server tarball ready in {time.monotonic() - t0:.0f}s "
        f"({tarball.stat().st_size >> 20} MiB); kind build node-image {ref}")
    proc = subprocess.run([str(kind), "build", "node-image", "--type", "file", str(tarball),
                           "--image", ref, "--base-image", base],
                          env={**os.environ, **dockerd.env()}, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tarball.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RuntimeError(f"kind build node-image failed:\n{proc.stdout[-4000:]}")
    log(f"node image {ref} built in {time.monotonic() - t0:.0f}s")
    return ref
