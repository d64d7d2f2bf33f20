"""The e2e cluster: kind with one control plane and three workers in two zones.

    config_file()          kind's config (written under $CHARTGEN_CACHE/kindkube)
    node_image()           $KIND_NODE_IMAGE when set (a machine that can pull), else the one built here
    create() / delete()    through the kind CLI (pytest's fixture creates through pytest-kind)
    finish(kubeconfig)     after `kind create cluster`: the CNI, then every node Ready
    load_test_image(name)  a test image (tests/infra/images.py) into every node (kind load)

The settings this machine needs go in through kind's patches: containerd's
``restrict_oom_score_adj`` and kubelet/kube-proxy ``oomScoreAdj: 0`` (CAP_SYS_RESOURCE is
not in the bounding set, so no process may lower an OOM score), kubelet ``failCgroupV1:
false`` (cgroups are hybrid v1 here).
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import yaml

from tests.infra import images, shelf
from tests.infra.shelf import log

from . import cni, dockerd, node_images
from . import node_image as node_image_mod

NAME = os.environ.get("KINDKUBE_CLUSTER", "chartgen-e2e")
ZONE_LABEL = "topology.kubernetes.io/zone"
# workers in kind's naming order (<name>-worker, -worker2, -worker3) and their zones
WORKER_ZONES = ["zone-a", "zone-a", "zone-b"]

CONTAINERD_PATCH = """[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
"""
KUBELET_PATCH = {"kind": "KubeletConfiguration", "failCgroupV1": False, "oomScoreAdj": 0}
KUBE_PROXY_PATCH = {"kind": "KubeProxyConfiguration", "oomScoreAdj": 0}


class KindError(RuntimeError):
    pass


def config() -> dict:
    return {
        "kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4",
        "networking": {"disableDefaultCNI": True, "kubeProxyMode": "iptables"},
        "nodes": [{"role": "control-plane"}] + [
            {"role": "worker", "labels": {ZONE_LABEL: zone}} for zone in WORKER_ZONES],
        "containerdConfigPatches": [CONTAINERD_PATCH],
        "kubeadmConfigPatches": [yaml.safe_dump(KUBELET_PATCH), yaml.safe_dump(KUBE_PROXY_PATCH)],
    }


def config_file() -> Path:
    path = shelf.cache() / "kind" / "kind-config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config(), sort_keys=False))
    return path


def kubeconfig_path(name: str = NAME) -> Path:
    return shelf.cache() / "kind" / f"{name}.kubeconfig"


def node_image() -> str:
    return os.environ.get("KIND_NODE_IMAGE") or node_image_mod.build()


def kubectl() -> Path:
    return shelf.path("kubectl")


def _env() -> dict[str, str]:
    return {**os.environ, **dockerd.env()}


def _run(cmd: list, timeout: float = 600, **kw) -> str:
    proc = subprocess.run([str(c) for c in cmd], env=_env(), text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=timeout, **kw)
    if proc.returncode != 0:
        raise KindError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return proc.stdout


def clusters() -> list[str]:
    if not dockerd.answering():
        return []
    return _run([shelf.path("kind"), "get", "clusters"]).split()


def nodes(name: str = NAME) -> list[str]:
    return _run([shelf.path("kind"), "get", "nodes", "--name", name]).split()


def create(name: str = NAME) -> Path:
    """Create (or reuse) the cluster through the kind CLI; returns its kubeconfig."""
    dockerd.up()
    kubeconfig = kubeconfig_path(name)
    if name not in clusters():
        image = node_image()
        t0 = time.monotonic()
        _run([shelf.path("kind"), "create", "cluster", "--name", name, "--image", image,
              "--config", config_file(), "--kubeconfig", kubeconfig])
        log(f"kind create cluster {name}: {time.monotonic() - t0:.0f}s")
    finish(kubeconfig, name)
    return kubeconfig


def kubectl_run(kubeconfig: Path, *args: str, stdin: str | None = None, timeout: float = 600) -> str:
    return _run([kubectl(), "--kubeconfig", kubeconfig, *args], input=stdin, timeout=timeout)


def finish(kubeconfig: Path, name: str = NAME, timeout: int = 300) -> None:
    """Install the CNI, then wait for every node Ready and for CoreDNS and the storage
    provisioner to run (both wait for pod networking)."""
    t0 = time.monotonic()
    # the node image built here carries it; an upstream one (KIND_NODE_IMAGE) does not
    load_archive(node_images.kube_router_ref(), node_images.kube_router_archive, name)
    kubectl_run(kubeconfig, "apply", "-f", "-", stdin=cni.manifest())
    kubectl_run(kubeconfig, "wait", "--for=condition=Ready", "nodes", "--all", f"--timeout={timeout}s",
                timeout=timeout + 30)
    for ns, deploy in (("kube-system", "coredns"), ("local-path-storage", "local-path-provisioner")):
        kubectl_run(kubeconfig, "-n", ns, "rollout", "status", f"deployment/{deploy}", f"--timeout={timeout}s",
                    timeout=timeout + 30)
    log(f"cluster ready (CNI, nodes, DNS, storage) in {time.monotonic() - t0:.0f}s")


def delete(name: str = NAME) -> None:
    if name in clusters():
        _run([shelf.path("kind"), "delete", "cluster", "--name", name, "--kubeconfig", kubeconfig_path(name)])
    kubeconfig_path(name).unlink(missing_ok=True)


def load_archive(ref: str, archive, name: str = NAME) -> str:
    """Load the image archive (ARCHIVE() builds it) into every node that lacks REF."""
    missing = [n for n in nodes(name) if ref not in dockerd.docker(
        "exec", n, "ctr", "-n", "k8s.io", "images", "ls", "-q").stdout.split()]
    if missing:
        t0 = time.monotonic()
        _run([shelf.path("kind"), "load", "image-archive", "--name", name, "--nodes", ",".join(missing), archive()])
        log(f"loaded {ref} into {len(missing)} node(s) in {time.monotonic() - t0:.0f}s")
    return ref


def load_test_image(image: str, name: str = NAME) -> str:
    """Test image IMAGE (tests/infra/images.py, built when missing) into every node unless there."""
    return load_archive(images.ref(image), lambda: images.archive(image)[1], name)
