"""One e2e suite, three ways to get a cluster: --cluster=local|kind|existing.

- local:    the single-node Kubernetes that localkube builds from upstream sources and runs
            here; test images are built from Debian packages and imported into containerd.
- kind:     a kind cluster through pytest-kind: 1 control plane + 3 workers in two zones, with
            kind, its node image and the CNI built here by kindkube (tests/e2e/kindcluster.py);
            the same test images, loaded into every node.
- existing: whatever cluster $KUBECONFIG points at (official images are pulled).
"""

from __future__ import annotations

import os
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
    from tests.e2e.kindcluster import image_values, kind_cluster

    kubeconfig, refs = kind_cluster(request)
    etcd, redis = image_values(refs["etcd"]), image_values(refs["redis"])
    return Cluster("kind", kubeconfig, {"etcd": {"image": etcd, "toolsImage": etcd},
                                        "redis": {"image": redis, "kubectlImage": redis}})


@pytest.fixture(scope="session")
def cluster(request) -> Cluster:
    choice = request.config.getoption("--cluster")
    if choice is None:
        pytest.skip("e2e: choose a cluster with --cluster=local|kind|existing (make e2e uses kind)")
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
