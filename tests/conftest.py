import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--cluster", choices=["kind", "existing"], default=None,
                     help="the cluster of the e2e and publish tests (tests/kube.py): kind (built on this machine) "
                          "| existing ($KUBECONFIG)")


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "chartgen", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture(scope="session")
def helm():
    from chartgen.helm import Helm

    return Helm()


@pytest.fixture(scope="session")
def etcd_chart(tmp_path_factory):
    import chartgen

    return chartgen.generate("etcd", "etcd", output=tmp_path_factory.mktemp("charts") / "etcd")
