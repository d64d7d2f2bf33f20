"""package + publish: reproducible archives, index.yaml merge with correct digests, conflicts,
and the real helm against the folder served over HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest
import yaml

import chartgen
from chartgen import publish, versioning
from chartgen.errors import RepositoryIndexError, VersionConflictError
from tests.publish.conftest import chartgen as cli
from tests.publish.conftest import helm, one_line_error
from tests.versions import V0, V1


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def index_of(repo):
    return yaml.safe_load((repo / "index.yaml").read_text())


@pytest.fixture
def charts(tmp_path):
    """Two charts: kv (etcd preset) and kv5 (etcd, 5 members)."""
    src = tmp_path / "src"
    return (chartgen.generate("etcd", "kv", output=src / "kv"),
            chartgen.generate("etcd", "kv5", output=src / "kv5", replicas=5))


def test_package_is_reproducible_and_named_by_version(charts, tmp_path):
    kv, _ = charts
    a = publish.package([kv.path], tmp_path / "a")[0]
    chartgen.generate("etcd", "kv", output=kv.path, force=True)  # same content, new files
    for path in kv.path.rglob("*"):  # and other mtimes, which helm would archive
        os.utime(path, (1234567890, 1234567890))
    b = publish.package([kv.path], tmp_path / "b")[0]
    assert a.path.name == b.path.name == f"kv-{V0}.tgz"
    assert sha(a.path) == sha(b.path) == a.digest
    assert versioning.archive_metadata(a.path)["version"] == V0


def test_cli_package(charts, tmp_path):
    kv, kv5 = charts
    proc = cli("package", str(kv.path), str(kv5.path), "--destination", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"kv-{V0}.tgz", f"kv5-{V0}.tgz"]
    assert f"packaged kv {V0}" in proc.stdout
    one_line_error(cli("package", str(tmp_path / "nowhere"), "--destination", str(tmp_path / "out")),
                   "nowhere", "no Chart.yaml")


def test_package_refuses_other_content_under_an_existing_archive(charts, tmp_path):
    kv, _ = charts
    out = tmp_path / "out"
    first = publish.package([kv.path], out)[0]
    assert publish.package([kv.path], out)[0].digest == first.digest  # same content: fine
    other = chartgen.generate("etcd", "kv", output=tmp_path / "fresh" / "kv", replicas=5)  # also 0.1.0
    with pytest.raises(VersionConflictError, match=f"kv-{V0}.tgz already exists with other content"):
        publish.package([other.path], out)
    assert sha(out / f"kv-{V0}.tgz") == first.digest
    one_line_error(cli("package", str(other.path), "--destination", str(out)), f"kv {V0}", "bump")


def test_publish_then_merge_keeps_every_entry_with_correct_digests(charts, tmp_path):
    kv, kv5 = charts
    repo = tmp_path / "repo"
    first = publish.publish([kv.path], repo)
    assert [(p.name, p.version) for p in first.added] == [("kv", V0)]
    created = index_of(repo)["entries"]["kv"][0]["created"]

    publish.publish([kv5.path], repo)  # another chart: the first one's entry stays as it was
    chartgen.generate("etcd", "kv", output=kv.path, force=True, sets=["persistence.size=20Gi"])
    publish.publish([kv.path], repo)  # kv 0.1.1 next to 0.1.0

    index = index_of(repo)
    assert sorted(index["entries"]) == ["kv", "kv5"]
    assert [e["version"] for e in index["entries"]["kv"]] == [V1, V0]  # newest first
    assert index["entries"]["kv"][1]["created"] == created
    for name, versions in index["entries"].items():
        for e in versions:
            assert e["urls"] == [f"{name}-{e['version']}.tgz"]  # relative: resolved against the repo URL
            assert e["digest"] == sha(repo / e["urls"][0])
            assert e["annotations"][versioning.DIGEST_ANNOTATION].startswith("sha256:")
    assert sorted(p.name for p in repo.glob("*.tgz")) == [f"kv-{V0}.tgz", f"kv-{V1}.tgz", f"kv5-{V0}.tgz"]


def test_republishing_unchanged_content_changes_nothing(charts, tmp_path):
    kv, _ = charts
    repo = tmp_path / "repo"
    publish.publish([kv.path], repo)
    before = (repo / "index.yaml").read_bytes(), (repo / f"kv-{V0}.tgz").read_bytes()
    chartgen.generate("etcd", "kv", output=kv.path, force=True)  # regenerated: same content, same version
    result = publish.publish([kv.path], repo)
    assert result.added == [] and [p.name for p in result.kept] == ["kv"]
    assert ((repo / "index.yaml").read_bytes(), (repo / f"kv-{V0}.tgz").read_bytes()) == before


def test_changed_content_under_a_published_version_is_refused(charts, tmp_path):
    """The 'version not bumped' path: same name and version, other content."""
    kv, _ = charts
    repo = tmp_path / "repo"
    publish.publish([kv.path], repo)
    before = (repo / "index.yaml").read_bytes()
    other = chartgen.generate("etcd", "kv", output=tmp_path / "fresh" / "kv", replicas=5)  # no history: 0.1.0
    assert other.version == V0
    with pytest.raises(VersionConflictError, match=f"kv {V0}: already published .* bump the chart's version"):
        publish.publish([other.path], repo)
    assert (repo / "index.yaml").read_bytes() == before  # nothing written
    assert sorted(p.name for p in repo.iterdir()) == ["index.yaml", f"kv-{V0}.tgz"]
    proc = cli("publish", str(other.path), "--repo-dir", str(repo))
    one_line_error(proc, f"kv {V0}", "already published", "bump")


def test_conflict_is_found_from_the_fingerprint_when_the_archive_is_elsewhere(charts, tmp_path):
    kv, _ = charts
    repo = tmp_path / "repo"
    publish.publish([kv.path], repo, url="https://charts.example.org/stable")
    (repo / f"kv-{V0}.tgz").unlink()  # e.g. the archives live on a release page, the index here
    other = chartgen.generate("etcd", "kv", output=tmp_path / "fresh" / "kv", replicas=5)
    with pytest.raises(VersionConflictError):
        publish.publish([other.path], repo)
    # same content (same fingerprint): the archive is put back and listed with its digest
    result = publish.publish([kv.path], repo, url="https://charts.example.org/stable")
    entry = index_of(repo)["entries"]["kv"][0]
    assert [p.name for p in result.added] == ["kv"] and entry["digest"] == sha(repo / f"kv-{V0}.tgz")
    assert entry["urls"] == [f"https://charts.example.org/stable/kv-{V0}.tgz"]


def test_an_index_entry_with_a_conflicting_digest_is_refused(charts, tmp_path):
    kv, kv5 = charts
    repo = tmp_path / "repo"
    publish.publish([kv.path], repo)
    shutil.copyfile(publish.package([kv5.path], tmp_path / "x")[0].path, repo / f"kv-{V0}.tgz")  # replaced file
    with pytest.raises(RepositoryIndexError, match=f"kv {V0} lists digest .* but kv-{V0}.tgz has"):
        publish.publish([kv5.path], repo)
    assert not (repo / f"kv5-{V0}.tgz").exists()
    one_line_error(cli("publish", str(kv5.path), "--repo-dir", str(repo)), "index.yaml", "lists digest", "restore it")


def test_a_broken_index_is_named(charts, tmp_path):
    kv, _ = charts
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "index.yaml").write_text("apiVersion: v1\nentries: [\n")
    one_line_error(cli("publish", str(kv.path), "--repo-dir", str(repo)), "index.yaml", "not valid YAML")
    (repo / "index.yaml").write_text("apiVersion: v1\nentries:\n  kv: nope\n")
    one_line_error(cli("publish", str(kv.path), "--repo-dir", str(repo)), "entries.kv")


def test_publish_needs_charts_and_a_real_url(tmp_path):
    one_line_error(cli("publish", "--repo-dir", str(tmp_path / "empty")), "CHARTS", "nothing to publish")
    one_line_error(cli("publish", str(tmp_path), "--repo-dir", str(tmp_path), "--url", "ftp://x"), "--url", "http")


def test_publish_defaults_to_the_charts_in_the_repo_dir(tmp_path):
    repo = tmp_path / "charts"
    chartgen.generate("etcd", "kv", output=repo / "kv")
    chartgen.generate("etcd", "kv3", output=repo / "kv3")
    proc = cli("publish", "--repo-dir", str(repo))
    assert proc.returncode == 0, proc.stderr
    assert "2 added, 0 unchanged" in proc.stdout
    assert sorted(index_of(repo)["entries"]) == ["kv", "kv3"]
    assert "0 added, 2 unchanged" in cli("publish", "--repo-dir", str(repo)).stdout


def test_helm_uses_the_repository_over_http(charts, tmp_path, serve):
    """helm repo add + search repo + template repo/chart + pull, against the folder served on
    127.0.0.1, with relative URLs in one repository and absolute ones in another."""
    kv, kv5 = charts
    repo = tmp_path / "repo"
    publish.publish([kv.path, kv5.path], repo)
    chartgen.generate("etcd", "kv", output=kv.path, force=True, replicas=7)
    publish.publish([kv.path], repo)
    url, server = serve(repo)

    helm("repo", "add", "local", url)
    found = yaml.safe_load(helm("search", "repo", "local/", "--versions", "-o", "yaml").stdout)
    assert {(c["name"], c["version"]) for c in found} == {("local/kv", V1), ("local/kv", V0),
                                                          ("local/kv5", V0)}
    rendered = list(yaml.safe_load_all(helm("template", "r", "local/kv", "--version", V0).stdout))
    sts = next(d for d in rendered if d and d["kind"] == "StatefulSet")
    assert sts["spec"]["replicas"] == 3
    rendered = list(yaml.safe_load_all(helm("template", "r", "local/kv").stdout))  # newest: 0.1.1
    assert next(d for d in rendered if d and d["kind"] == "StatefulSet")["spec"]["replicas"] == 7
    assert f"/kv-{V1}.tgz" in server.requests
    (tmp_path / "pulled").mkdir()
    helm("pull", "local/kv5", "--destination", str(tmp_path / "pulled"))
    assert sha(tmp_path / "pulled" / f"kv5-{V0}.tgz") == sha(repo / f"kv5-{V0}.tgz")

    # absolute URLs (--url): helm fetches archives from there
    abs_repo = tmp_path / "abs"
    abs_url, abs_server = serve(abs_repo)
    publish.publish([kv5.path], abs_repo, url=abs_url + "/")
    assert index_of(abs_repo)["entries"]["kv5"][0]["urls"] == [f"{abs_url}/kv5-{V0}.tgz"]
    helm("repo", "add", "abs", abs_url)
    helm("show", "chart", "abs/kv5")
    helm("template", "r", "abs/kv5")
    assert f"/kv5-{V0}.tgz" in abs_server.requests

