"""Every verb on bad paths, non-chart folders, unwritable or special output locations and
unreachable targets: one line naming the problem and the fix, a non-zero exit, no traceback."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli

UNREACHABLE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    root = tmp_path_factory.mktemp("places")
    (root / "empty").mkdir()
    (root / "file").write_text("not a chart\n")
    (root / "broken").mkdir()
    (root / "broken" / "Chart.yaml").write_text("name: [unclosed\n")
    (root / "kubeconfig").write_text(UNREACHABLE_KUBECONFIG)
    (root / "not-a-kubeconfig").write_text("{{{\n")
    chart = root / "kv"
    assert run_cli("generate", "--preset", "etcd", "--name", "kv", "--output", str(chart)).returncode == 0
    return root


def _cases(p):
    kc = str(p / "kubeconfig")
    chart = str(p / "kv")
    return {
        # verb: arguments -> words the one line must contain
        "topology missing dir": (["topology", str(p / "none")], ["does not exist"]),
        "topology a file": (["topology", str(p / "file")], ["not a directory"]),
        "topology no Chart.yaml": (["topology", str(p / "empty")], ["has no Chart.yaml"]),
        "topology broken Chart.yaml": (["topology", str(p / "broken")], ["Chart.yaml", "YAML"]),
        "lint no Chart.yaml": (["lint", str(p / "empty")], ["has no Chart.yaml"]),
        "lint broken Chart.yaml": (["lint", str(p / "broken")], ["Chart.yaml"]),
        "package missing chart": (["package", str(p / "none"), "-d", str(p / "out")], ["none"]),
        "package non-chart": (["package", str(p / "empty"), "-d", str(p / "out")], ["Chart.yaml"]),
        "package into a file": (["package", chart, "-d", str(p / "file")], ["--destination", "not a directory"]),
        "package into /proc": (["package", chart, "-d", "/proc/chartgen"], ["--destination"]),
        "publish into a file": (["publish", chart, "--repo-dir", str(p / "file")], ["--repo-dir", "not a directory"]),
        "publish into /proc": (["publish", chart, "--repo-dir", "/proc/chartgen"], ["--repo-dir"]),
        "publish non-chart": (["publish", str(p / "empty"), "--repo-dir", str(p / "repo")], ["Chart.yaml"]),
        "push unreachable": (["push", chart, "--oci", "oci://127.0.0.1:1/charts", "--plain-http"], ["--oci", "unreachable"]),
        "push not oci": (["push", chart, "--oci", "https://example.org/charts"], ["--oci", "oci://"]),
        "push non-chart": (["push", str(p / "empty"), "--oci", "oci://127.0.0.1:1/x"], ["Chart.yaml"]),
        "install non-chart": (["install", "--chart", str(p / "empty"), "--release", "r", "--kubeconfig", kc],
                              ["--chart", "Chart.yaml"]),
        "install unreachable": (["install", "--chart", chart, "--release", "r", "--kubeconfig", kc],
                                ["unreachable"]),
        "install bad kubeconfig": (["install", "--chart", chart, "--release", "r", "--kubeconfig",
                                    str(p / "not-a-kubeconfig")], ["--kubeconfig"]),
        "install missing kubeconfig": (["install", "--chart", chart, "--release", "r", "--kubeconfig",
                                        str(p / "none")], ["--kubeconfig", "no kubeconfig"]),
        "status unreachable": (["status", "r", "--kubeconfig", kc], ["unreachable"]),
        "status bad release": (["status", "R_1", "--kubeconfig", kc], ["--release", "DNS-1123"]),
        "uninstall unreachable": (["uninstall", "r", "--kubeconfig", kc], ["unreachable"]),
        "generate under a file": (["generate", "--preset", "etcd", "--name", "kv", "--output",
                                   str(p / "file" / "kv")], ["--output", "not a directory"]),
        "generate into /proc": (["generate", "--preset", "etcd", "--name", "kv", "--output", "/proc/chartgen-kv"],
                                ["--output"]),
        "generate onto /dev/null": (["generate", "--preset", "etcd", "--name", "kv", "--output", "/dev/null",
                                     "--force"], ["--output", "not a directory"]),
        "generate unknown flavor": (["generate", "--preset", "etcd", "--name", "kv", "--flavor", "x", "--output",
                                     str(p / "fl")], ["--flavor", "no flavors"]),
    }


CASE_NAMES = list(_cases(__import__("pathlib").Path("/x")))


@pytest.mark.parametrize("name", CASE_NAMES)
def test_one_line_and_a_non_zero_exit(places, name):
    args, needles = _cases(places)[name]
    proc = run_cli(*args)
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("  ")]
    assert len(lines) == 1 and lines[0].startswith("chartgen: error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
