"""install / upgrade / status / uninstall through pyhelm3. The error paths that need no cluster
run here; the rest runs on the cluster given with --cluster=kind|existing (tests/kube.py)."""

from __future__ import annotations

import os
import re

import pytest
import yaml

import chartgen
from tests.publish.conftest import chartgen as cli
from tests.publish.conftest import free_port, one_line_error
from tests.versions import V0


# -- no cluster needed ------------------------------------------------------------------
@pytest.fixture
def dead_kubeconfig(tmp_path):
    """A kubeconfig whose API server address has nothing listening."""
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": f"https://127.0.0.1:{free_port()}",
                                                  "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}],
    }))
    return path


@pytest.mark.parametrize("verb", ["install", "status", "uninstall"])
def test_unreachable_cluster(dead_kubeconfig, verb):
    args = {"install": ["install", "--preset", "etcd", "--release", "kv"],
            "status": ["status", "kv"], "uninstall": ["uninstall", "kv"]}[verb]
    proc = cli(*args, "--kubeconfig", str(dead_kubeconfig))
    one_line_error(proc, f"--kubeconfig {dead_kubeconfig}", "Kubernetes API unreachable", "connection refused")


def test_missing_kubeconfig(tmp_path):
    proc = cli("status", "kv", "--kubeconfig", str(tmp_path / "none"))
    one_line_error(proc, "--kubeconfig", "no kubeconfig file there")


@pytest.mark.parametrize("args,needles", [
    (["--preset", "etcd", "--release", "My_Etcd"], ["--release 'My_Etcd'", "DNS-1123"]),
    (["--preset", "etcd", "--release", "e" * 54], ["--release", "at most 53"]),
    (["--preset", "etcd", "--release", "kv", "--timeout", "soon"], ["--timeout 'soon'", "10m"]),
    (["--preset", "etcd", "--chart", "x", "--release", "kv"], ["--chart", "not allowed with argument --preset"]),
    (["--release", "kv"], ["--preset", "--chart", "required"]),
    (["--chart", "/nonexistent", "--release", "kv"], ["--chart /nonexistent", "no Chart.yaml"]),
    (["--preset", "etcdd", "--release", "kv"], ["--preset 'etcdd'", "etcd"]),
    (["--preset", "etcd", "--release", "kv", "--set", "replicaCount=4"], ["replicaCount=4", "use 3 or 5"]),
    (["--preset", "etcd", "--release", "kv", "--set", "persistence.sise=1Gi"], ["--set persistence.sise", "size"]),
])
def test_install_refuses_bad_input_before_any_cluster(args, needles, dead_kubeconfig):
    one_line_error(cli("install", *args, "--kubeconfig", str(dead_kubeconfig)), *needles)


# -- on a cluster -------------------------------------------------------------------------
NAMESPACE = f"chartgen-publish-{os.getpid()}"


@pytest.fixture(scope="module")
def on_cluster(cluster, tmp_path_factory):
    """(kubeconfig, values file with images the cluster can run, kubernetes client); the test
    namespace is deleted afterwards."""
    from kubernetes import client, config

    kubeconfig, image_values = cluster
    values = tmp_path_factory.mktemp("values") / "values.yaml"
    values.write_text(yaml.safe_dump({**image_values, "persistence": {"size": "1Gi"}}))
    api = config.new_client_from_config(config_file=str(kubeconfig))
    yield kubeconfig, values, client.CoreV1Api(api)
    try:
        client.CoreV1Api(api).delete_namespace(NAMESPACE)
    except client.exceptions.ApiException as err:
        if err.status != 404:
            raise


def kc(on_cluster):
    return ["--kubeconfig", str(on_cluster[0]), "--namespace", NAMESPACE]


@pytest.mark.e2e
@pytest.mark.timeout(900)
@pytest.mark.xdist_group("publish-release")
class TestOnACluster:
    def test_unknown_release(self, on_cluster):
        one_line_error(cli("status", "nope", *kc(on_cluster)), "release 'nope': not found", NAMESPACE)
        one_line_error(cli("uninstall", "nope", *kc(on_cluster)), "release 'nope': not found", "--namespace")

    def test_install_shows_progress_then_status(self, on_cluster):
        proc = cli("install", "--preset", "etcd", "--release", "kv", "--values", str(on_cluster[1]),
                   "--wait", "--timeout", "5m", *kc(on_cluster))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert re.search(r"pods ready [0-2]/3", proc.stdout), proc.stdout  # seen while helm waited
        assert re.search(rf"kv: revision 1 deployed .*chart etcd-{re.escape(V0)}.*pods ready 3/3$", proc.stdout, re.M), proc.stdout
        status = cli("status", "kv", *kc(on_cluster))
        assert status.returncode == 0, status.stdout + status.stderr
        assert "members healthy 3/3 (StatefulSet/kv-etcd)" in status.stdout
        assert ", type stateful-multi" in status.stdout.splitlines()[0]
        assert len(re.findall(r"kv-etcd-\d +ready +role n/a", status.stdout)) == 3
        assert "leader: n/a" in status.stdout
        # a preset whose pods publish their role (a chartgen.io/role label) gets its leader named
        core = on_cluster[2]
        core.patch_namespaced_pod("kv-etcd-1", NAMESPACE, {"metadata": {"labels": {"chartgen.io/role": "leader"}}})
        try:
            status = cli("status", "kv", *kc(on_cluster))
        finally:
            core.patch_namespaced_pod("kv-etcd-1", NAMESPACE, {"metadata": {"labels": {"chartgen.io/role": None}}})
        assert "leader: kv-etcd-1 (leader), from the pods' chartgen.io/role label" in status.stdout, status.stdout
        assert re.search(r"kv-etcd-1 +ready +role leader", status.stdout)

    def test_upgrade_from_a_chart_directory(self, on_cluster, tmp_path):
        chart = chartgen.generate("etcd", "etcd", output=tmp_path / "etcd")
        proc = cli("install", "--chart", str(chart.path), "--release", "kv", "--values", str(on_cluster[1]),
                   "--set", "service.annotations.team=data", "--wait", *kc(on_cluster))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "kv: revision 2 deployed" in proc.stdout
        svc = on_cluster[2].read_namespaced_service("kv-etcd", NAMESPACE)
        assert svc.metadata.annotations.get("team") == "data"

    def test_a_failed_install_says_why(self, on_cluster, tmp_path):
        bad = tmp_path / "bad.yaml"
        values = yaml.safe_load(on_cluster[1].read_text())
        values["image"] = {"registry": "localhost", "repository": "chartgen/does-not-exist", "tag": "v0",
                           "pullPolicy": "Never"}
        bad.write_text(yaml.safe_dump(values))
        proc = cli("install", "--preset", "etcd", "--release", "broken", "--values", str(bad), "--set",
                   "replicaCount=1", "--wait", "--timeout", "40s", *kc(on_cluster))
        assert proc.returncode == 1, proc.stdout
        lines = proc.stderr.splitlines()
        assert lines[-1].startswith("chartgen: error: release broken:") and "0/1 pods ready" in lines[-1]
        assert any(re.match(r"  pod broken-etcd-0: Pending;.* etcd ErrImageNeverPull", ln) for ln in lines), proc.stderr
        assert any("event Warning" in ln and "does-not-exist" in ln for ln in lines), proc.stderr
        assert any(ln.startswith("    log bootstrap: ") for ln in lines), proc.stderr  # the init step's last lines
        assert cli("uninstall", "broken", *kc(on_cluster)).returncode == 0

    def test_uninstall(self, on_cluster):
        proc = cli("uninstall", "kv", *kc(on_cluster))
        assert proc.returncode == 0, proc.stderr
        assert f"uninstalled kv from namespace {NAMESPACE}" in proc.stdout
        assert "kept 3 PersistentVolumeClaim(s)" in proc.stdout and "data-kv-etcd-0" in proc.stdout
        one_line_error(cli("status", "kv", *kc(on_cluster)), "release 'kv': not found")

    def test_helm_installs_from_the_published_repository(self, on_cluster, serve, tmp_path):
        """publish -> serve over HTTP on 127.0.0.1 -> helm repo add -> helm install repo/chart."""
        from chartgen import publish
        from tests.publish.conftest import helm

        chart = chartgen.generate("etcd", "etcd", output=tmp_path / "etcd")
        publish.publish([chart.path], tmp_path / "repo")
        url, server = serve(tmp_path / "repo")
        helm("repo", "add", "published", url)
        helm("repo", "update")
        proc = helm("install", "fromrepo", "published/etcd", *kc(on_cluster), "--values", str(on_cluster[1]),
                    "--set", "replicaCount=1", "--create-namespace", "--wait", "--timeout", "5m")
        assert "STATUS: deployed" in proc.stdout
        assert f"/etcd-{V0}.tgz" in server.requests  # the archive came from the served folder
        pod = on_cluster[2].read_namespaced_pod("fromrepo-etcd-0", NAMESPACE)
        assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)
        helm("uninstall", "fromrepo", *kc(on_cluster), "--wait")
