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
    # test images with exactly the default images' tools (tests/images/manifest.yaml)
    return Cluster("local", Path(kubeconfig), {
        "etcd": {"image": image("etcd"), "toolsImage": image("etcd-tools")},
        "redis": {"image": image("redis"), "kubectlImage": image("kubectl")},
        # the mysql preset's mariadb flavor (Oracle MySQL has no package or image here)
        "mysql-mariadb": {"image": image("mariadb"), "kubectlImage": image("kubectl")},
    })


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


@pytest.fixture(scope="module")
def helm(cluster):
    from chartgen.helm import Helm

    return Helm(kubeconfig=cluster.kubeconfig, timeout="10m")


@pytest.fixture(scope="module")
def chart(request, tmp_path_factory):
    """The chart of the test module's PRESET, generated with its defaults."""
    import chartgen

    preset = request.module.PRESET
    return chartgen.generate(preset, preset, output=tmp_path_factory.mktemp("e2e") / preset)


@pytest.fixture(scope="module", autouse=True)
def fresh_namespace(request):
    """A test module's NAMESPACE, deleted first if a previous run left it."""
    ns = getattr(request.module, "NAMESPACE", None)
    if ns is None:
        yield
        return
    from kubernetes import client

    kube = request.getfixturevalue("kube")
    try:
        kube.core.delete_namespace(ns)
        kube.wait("old namespace gone", lambda: ns not in [n.metadata.name for n in kube.core.list_namespace().items],
                  timeout=180)
    except client.exceptions.ApiException as err:
        if err.status != 404:
            raise
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, print the release's pods, events and logs with chartgen's own diagnostics
    (what `chartgen install` prints when helm fails): the why, not just the what."""
    outcome = yield
    report = outcome.get_result()
    cluster = item.funcargs.get("cluster")
    ns, release = getattr(item.module, "NAMESPACE", None), getattr(item.module, "RELEASE", None)
    if report.when == "call" and report.failed and cluster and ns and release:
        from chartgen import release as releases

        try:
            lines = releases.diagnose(releases.Kube(str(cluster.kubeconfig)), ns, release, every_pod=True, log_lines=40)
        except Exception as err:  # noqa: BLE001 - the report must not hide the failure
            lines = [f"(no diagnostics: {err})"]
        report.sections.append(("cluster state (chartgen diagnostics)", "\n".join(lines)))
