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

from tests.e2e.images import preset_values
from tests.e2e.kube import Kube


@dataclass
class Cluster:
    kind: str
    kubeconfig: Path
    # values that make the charts use images this cluster can run (local: imported images)
    image_values: dict[str, dict] = field(default_factory=dict)
    # can its nodes pull the official images? (not here: no registry; kind with an upstream
    # node image on a machine whose Docker pulls, or an existing cluster: yes)
    can_pull: bool = True


def _local() -> Cluster:
    from localkube import cluster as localkube

    kubeconfig = localkube.up()
    return Cluster("local", Path(kubeconfig), preset_values(localkube.load_image), can_pull=False)


def _kind(request) -> Cluster:
    from kindkube import cluster as kindkube
    from tests.e2e.kindcluster import kind_cluster

    kubeconfig = kind_cluster(request)
    return Cluster("kind", kubeconfig, preset_values(kindkube.load_test_image),
                   can_pull=bool(os.environ.get("KIND_NODE_IMAGE")))


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
    """A test module's NAMESPACE, deleted first if a previous run left it, and deleted again
    when the module is done: bare pods it leaves behind (test clients) would stop a later
    module's `kubectl drain`, its pods would crowd the nodes of the modules after it."""
    ns = getattr(request.module, "NAMESPACE", None)
    if ns is None:
        yield
        return
    kube = request.getfixturevalue("kube")
    kube.delete_namespace(ns)
    yield
    kube.delete_namespace(ns)


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


@pytest.fixture(scope="module")
def values(request, cluster):
    """The test module's PRESET with small volumes and this cluster's images."""
    return {"persistence": {"size": "1Gi"}, **cluster.image_values.get(request.module.PRESET, {})}


@pytest.fixture(scope="module")
def workers(kube):
    """The worker nodes (the module is skipped with fewer than 3: a single-node cluster)."""
    from tests.e2e import multinode

    return multinode.require_workers(kube, 3)

