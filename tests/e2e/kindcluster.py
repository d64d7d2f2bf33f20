"""--cluster=kind: a kind cluster (1 control plane + 3 workers in two zones) made through
pytest-kind, with the kind CLI and node image built on this machine by ``kindkube`` (or the
node image named by $KIND_NODE_IMAGE on a machine whose Docker can pull).

Shared by tests/e2e and tests/publish: the cluster is created once per session and deleted
at its end (KINDKUBE_KEEP=1 keeps it for the next run, which then reuses it).
"""
from __future__ import annotations

import os
from pathlib import Path

_SESSION: dict = {}


def kind_cluster(request) -> Path:
    """The kubeconfig of the session's kind cluster (test images: kindkube.load_test_image)."""
    if "kubeconfig" in _SESSION:
        return _SESSION["kubeconfig"]
    from pytest_kind import KindCluster

    from kindkube import cluster as kindkube
    from kindkube import dockerd, gobuild

    dockerd.up()
    os.environ.update(dockerd.env())  # pytest-kind runs kind, kind runs docker: the project's engine
    kc = KindCluster(kindkube.NAME, kubeconfig=kindkube.kubeconfig_path(), image=kindkube.node_image(),
                     kind_path=gobuild.kind(), kubectl_path=kindkube.kubectl())
    kc.create(config_file=kindkube.config_file())
    if os.environ.get("KINDKUBE_KEEP") != "1":
        request.session.config.add_cleanup(kc.delete)
    kindkube.finish(kc.kubeconfig_path)
    _SESSION.update(kubeconfig=Path(kc.kubeconfig_path), kind=kc)
    return _SESSION["kubeconfig"]
