"""One e2e suite, three ways to get a cluster: --cluster=local|kind|existing.

- local:    the single-node Kubernetes that localkube builds from upstream sources and runs
            here; test images are built from Debian packages and imported into containerd.
- kind:     pytest-kind (kind + Docker that can pull kindest/node and the official images).
- existing: whatever cluster $KUBECONFIG points at (official images are pulled).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.kube import Kube


@dataclass
class Cluster:
    kind: str
    kubeconfig: Path
    # values that make the charts use images this cluster can run (local: imported images)
    image_values: dict[str, dict] = field(default_factory=dict)


def _local() -> Cluster:
    from localkube import cluster as localkube

    def image(name: str) -> dict:
        repo, tag = localkube.load_image(name).rsplit(":", 1)
        registry, repository = repo.split("/", 1)
        return {"registry": registry, "repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}

    kubeconfig = localkube.up()
    etcd = image("etcd")
    # the Debian redis image also carries kubectl at /bin/kubectl (localkube/images.py)
    redis = image("redis")
    return Cluster("local", Path(kubeconfig), {"etcd": {"image": etcd, "toolsImage": etcd},
                                               "redis": {"image": redis, "kubectlImage": redis}})


def _kind(request) -> Cluster:
    import subprocess

    if not shutil.which("docker") or subprocess.run(["docker", "info"], capture_output=True).returncode:
        pytest.skip("kind needs a running Docker engine that can pull kindest/node and the official images")
    from pytest_kind import KindCluster

    root = Path(__file__).resolve().parents[2]
    kind_dir = subprocess.run(["sh", str(root / "tools/build-kind.sh")], check=True,
                              capture_output=True, text=True).stdout.split()[-1]
    kubectl = shutil.which("kubectl")
    kc = KindCluster("chartgen-e2e", kind_path=Path(kind_dir) / "kind",
                     kubectl_path=Path(kubectl) if kubectl else None)
    try:
        kc.create()
    except Exception as err:  # noqa: BLE001 - report why kind could not start
        pytest.skip(f"kind could not create a cluster (it pulls kindest/node from a registry): {err}")
    request.addfinalizer(kc.delete)
    return Cluster("kind", Path(kc.kubeconfig_path))


@pytest.fixture(scope="session")
def cluster(request) -> Cluster:
    choice = request.config.getoption("--cluster")
    if choice is None:
        pytest.skip("e2e: choose a cluster with --cluster=local|kind|existing (make e2e uses local)")
    if choice == "local":
        return _local()
    if choice == "kind":
        return _kind(request)
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        pytest.skip("--cluster=existing needs KUBECONFIG")
    return Cluster("existing", Path(kubeconfig))


@pytest.fixture(scope="session")
def kube(cluster) -> Kube:
    return Kube(cluster.kubeconfig)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, print the namespace's pods, events and logs: the why, not just the what."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        kube = item.funcargs.get("kube")
        ns = getattr(item.module, "NAMESPACE", None)
        if kube and ns:
            report.sections.append(("cluster state", kube.diagnose(ns)))
