"""chartgen push against a real OCI registry (Debian's docker-registry) on 127.0.0.1."""

from __future__ import annotations

import hashlib

import pytest
import yaml

import chartgen
from chartgen import publish, versioning
from chartgen.errors import RegistryError, VersionConflictError
from tests.publish.conftest import chartgen as cli
from tests.publish.conftest import free_port, helm, one_line_error
from tests.versions import V0, V1


@pytest.fixture
def kv(tmp_path):
    return chartgen.generate("etcd", "kv", output=tmp_path / "src" / "kv")


def test_push_then_pull_and_show(kv, registry, tmp_path):
    remote = f"oci://{registry}/charts"
    packaged = publish.package([kv.path], tmp_path / "pkg")[0]
    proc = cli("push", str(packaged.path), "--oci", remote, "--plain-http")
    assert proc.returncode == 0, proc.stderr
    assert f"pushed {remote}/kv:{V0} (sha256:" in proc.stdout

    shown = yaml.safe_load(helm("show", "chart", f"{remote}/kv", "--version", V0, "--plain-http").stdout)
    assert shown["name"] == "kv" and shown["version"] == V0
    assert shown["annotations"][versioning.DIGEST_ANNOTATION] == versioning.content_digest(kv.path)
    (tmp_path / "pulled").mkdir()
    helm("pull", f"{remote}/kv", "--version", V0, "--plain-http", "--destination", str(tmp_path / "pulled"))
    pulled = tmp_path / "pulled" / f"kv-{V0}.tgz"
    assert hashlib.sha256(pulled.read_bytes()).hexdigest() == packaged.digest  # the same bytes
    rendered = helm("template", "r", f"{remote}/kv", "--version", V0, "--plain-http").stdout
    assert "kind: StatefulSet" in rendered


def test_push_a_chart_directory_twice_is_idempotent(kv, registry):
    remote = f"oci://{registry}/dirs"
    first = publish.push([kv.path], remote, plain_http=True)
    assert [(p.ref, p.already) for p in first] == [(f"{remote}/kv:{V0}", False)]
    chartgen.generate("etcd", "kv", output=kv.path, force=True)  # regenerated, same content
    proc = cli("push", str(kv.path), "--oci", remote, "--plain-http")
    assert proc.returncode == 0, proc.stderr
    assert f"unchanged {remote}/kv:{V0}" in proc.stdout


def test_other_content_under_a_pushed_version_is_refused(kv, registry, tmp_path):
    remote = f"oci://{registry}/conflict"
    publish.push([kv.path], remote, plain_http=True)
    other = chartgen.generate("etcd", "kv", output=tmp_path / "other" / "kv", replicas=5)
    with pytest.raises(VersionConflictError, match="already holds other content"):
        publish.push([other.path], remote, plain_http=True)
    one_line_error(cli("push", str(other.path), "--oci", remote, "--plain-http"), f"kv {V0}", "bump")
    shown = yaml.safe_load(helm("show", "values", f"{remote}/kv", "--version", V0, "--plain-http").stdout)
    assert shown["replicaCount"] == 3  # the registry still holds the first content
    bumped = chartgen.generate("etcd", "kv", output=kv.path, force=True, replicas=5)
    assert [p.ref for p in publish.push([bumped.path], remote, plain_http=True)] == [f"{remote}/kv:{V1}"]


def test_unreachable_registry(kv):
    port = free_port()  # nothing listens there
    proc = cli("push", str(kv.path), "--oci", f"oci://127.0.0.1:{port}/charts", "--plain-http")
    one_line_error(proc, f"--oci oci://127.0.0.1:{port}/charts", "registry unreachable", "connection refused")


def test_plain_http_registry_without_the_flag(kv, registry):
    with pytest.raises(RegistryError, match="speaks plain HTTP.*--plain-http"):
        publish.push([kv.path], f"oci://{registry}/charts")


def test_bad_oci_reference(kv):
    one_line_error(cli("push", str(kv.path), "--oci", "https://127.0.0.1:5000/charts"), "--oci", "oci://HOST")
