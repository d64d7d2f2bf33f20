import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser):
    parser.addoption("--cluster", choices=["local", "kind", "existing"], default=None,
                     help="where the e2e suite runs (tests/e2e): local | kind | existing")


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
