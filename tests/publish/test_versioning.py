"""Chart versions follow content: unchanged keeps, changed bumps (patch/minor/major)."""

from __future__ import annotations

import shutil

import pytest
import yaml

import chartgen
from chartgen import versioning
from chartgen.errors import InvalidValueError
from tests.publish.conftest import chartgen as cli
from tests.publish.conftest import one_line_error
from tests.versions import MAJOR, MINOR, V0, V1, V2, V3


def meta(chart_dir):
    return yaml.safe_load((chart_dir / "Chart.yaml").read_text())


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def first(tmp_path):
    return chartgen.generate("etcd", "kv", output=tmp_path / "kv")


def test_a_fresh_chart_takes_the_preset_version_and_records_its_fingerprint(first):
    m = meta(first.path)
    assert m["version"] == chartgen.load_preset("etcd").version
    assert m["annotations"][versioning.DIGEST_ANNOTATION] == versioning.content_digest(first.path)
    assert versioning.CHANGES_ANNOTATION not in m["annotations"]


def test_regenerating_unchanged_content_keeps_version_and_bytes(first):
    before = tree(first.path)
    again = chartgen.generate("etcd", "kv", output=first.path, force=True, bump="major")
    assert again.version == V0
    assert tree(first.path) == before


@pytest.mark.parametrize("bump,expected", [("patch", V1), ("minor", MINOR), ("major", MAJOR)])
def test_changed_content_bumps_the_version(first, bump, expected):
    changed = chartgen.generate("etcd", "kv", output=first.path, force=True, sets=["replicaCount=5"], bump=bump)
    assert changed.version == expected
    m = meta(changed.path)
    changes = yaml.safe_load(m["annotations"][versioning.CHANGES_ANNOTATION])
    assert changes[0]["kind"] == "changed" and "values.yaml" in changes[0]["description"]
    assert "README.md" in changes[0]["description"]  # its values table shows replicaCount
    # the README names the chart's real version, not the preset's
    assert f"chart {expected}," in (changed.path / "README.md").read_text()
    # and a second identical regenerate keeps it
    again = chartgen.generate("etcd", "kv", output=first.path, force=True, sets=["replicaCount=5"], bump=bump)
    assert again.version == expected


def test_bumps_accumulate_and_returning_to_old_content_still_bumps(first):
    v = [chartgen.generate("etcd", "kv", output=first.path, force=True, sets=[f"replicaCount={n}"]).version
         for n in (5, 7, 3)]
    # 3 is the preset default: the content equals 0.1.0's, but 0.1.2 is what it replaces
    assert v == [V1, V2, V3]


def test_a_hand_edited_version_is_the_base_of_the_next_bump(first):
    path = first.path / "Chart.yaml"
    path.write_text(path.read_text().replace(f"version: {V0}", "version: 2.4.9"))
    assert chartgen.generate("etcd", "kv", output=first.path, force=True).version == "2.4.9"
    assert chartgen.generate("etcd", "kv", output=first.path, force=True, sets=["replicaCount=5"]).version == "2.4.10"


def test_a_chart_without_fingerprint_is_compared_by_content(first):
    path = first.path / "Chart.yaml"
    m = meta(first.path)
    del m["annotations"][versioning.DIGEST_ANNOTATION]
    path.write_text(yaml.safe_dump(m, sort_keys=False))
    assert chartgen.generate("etcd", "kv", output=first.path, force=True).version == V0


def test_a_changed_template_bumps(first, tmp_path, monkeypatch):
    """A change in the preset itself (not in options) changes the content too."""
    from chartgen import presets

    root = tmp_path / "presets"
    shutil.copytree(presets.presets_root(), root)
    notes = root / "etcd" / "templates" / "NOTES.txt"
    notes.write_text(notes.read_text() + "\nOne more line.\n")
    monkeypatch.setattr(presets, "presets_root", lambda: root)
    presets.load.cache_clear()
    try:
        bumped = chartgen.generate("etcd", "kv", output=first.path, force=True)
    finally:
        presets.load.cache_clear()
    assert bumped.version == V1
    assert "templates/NOTES.txt" in meta(bumped.path)["annotations"][versioning.CHANGES_ANNOTATION]


def test_another_chart_in_the_folder_does_not_lend_its_version(first):
    other = chartgen.generate("etcd", "other", output=first.path, force=True, sets=["replicaCount=5"])
    assert other.version == V0


def test_the_fingerprint_is_what_helm_packages(first, tmp_path, helm):
    """chart_files sees the files `helm package` archives (.helmignore applied)."""
    (first.path / "notes.swp").write_text("editor junk")  # ignored by the chart's .helmignore
    archive = helm.package(first.path, tmp_path / "out")
    assert versioning.archive_files(archive).keys() == versioning.chart_files(first.path).keys()
    assert versioning.digest_files(versioning.archive_files(archive)) == versioning.content_digest(first.path)


def test_artifact_hub_annotations(first):
    ann = meta(first.path)["annotations"]
    assert ann["artifacthub.io/license"] == "Apache-2.0"
    images = yaml.safe_load(ann["artifacthub.io/images"])
    assert {i["name"] for i in images} == {"image", "toolsImage", "kubectlImage"}
    links = yaml.safe_load(ann["artifacthub.io/links"])
    assert {"name": "Homepage", "url": "https://etcd.io"} in links
    # appVersion follows the image tag
    assert meta(first.path)["appVersion"] == chartgen.Chart(first.path).values["image"]["tag"].lstrip("v")
    other = chartgen.generate("etcd", "kv", output=first.path, force=True, sets=["image.tag=v3.6.17"])
    assert meta(other.path)["appVersion"] == "3.6.17" and other.version == V1


def test_bump_must_be_a_known_part():
    with pytest.raises(InvalidValueError, match="--bump 'huge'"):
        versioning.check_bump("huge")


def test_cli_bump(tmp_path):
    out = tmp_path / "kv"
    assert cli("generate", "--preset", "etcd", "--name", "kv", "--output", str(out)).returncode == 0
    proc = cli("generate", "--preset", "etcd", "--name", "kv", "--output", str(out), "--force",
               "--replicas", "5", "--bump", "minor")
    assert proc.returncode == 0, proc.stderr
    assert f"generated kv {MINOR} " in proc.stdout
    proc = cli("generate", "--preset", "etcd", "--name", "kv", "--output", str(out), "--force",
               "--replicas", "5", "--bump", "minor")
    assert f"generated kv {MINOR} " in proc.stdout
    one_line_error(cli("generate", "--preset", "etcd", "--name", "kv", "--output", str(out), "--force",
                       "--bump", "huge"), "--bump", "patch")


def test_a_bad_existing_version_is_named(first):
    path = first.path / "Chart.yaml"
    path.write_text(path.read_text().replace(f"version: {V0}", "version: one"))
    with pytest.raises(InvalidValueError, match="Chart.yaml: version 'one' is not semantic versioning"):
        chartgen.generate("etcd", "kv", output=first.path, force=True, sets=["replicaCount=5"])
