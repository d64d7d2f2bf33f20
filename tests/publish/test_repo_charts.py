"""charts/ is the repository's Helm repository: one chart folder per published preset (the
component preset publishes none: its chart is made for the user's image), exactly what the
presets generate now (`make charts`), every version's .tgz, and an index.yaml that lists them
with their digests and that helm can use."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import yaml

import chartgen
from chartgen import publish, versioning
from tests.conftest import ROOT
from tests.publish.conftest import helm

CHARTS = ROOT / "charts"
STALE = "charts/ does not match the presets: run `make charts` (and commit charts/)"


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def index():
    path = CHARTS / "index.yaml"
    assert path.is_file(), f"{path} missing; {STALE}"
    return yaml.safe_load(path.read_text())


def test_one_chart_folder_per_preset():
    assert [p.name for p in publish.chart_dirs(CHARTS)] == chartgen.published_preset_names(), STALE
    unpublished = sorted(set(chartgen.preset_names()) - set(chartgen.published_preset_names()))
    readme = (ROOT / "README.md").read_text()
    for name in unpublished:  # the README says why charts/ has no chart of it
        assert f"charts/ publishes no {name} chart" in readme


@pytest.mark.parametrize("preset", chartgen.published_preset_names())
def test_chart_is_what_the_preset_generates_now(preset, tmp_path):
    """Regenerating (as `make charts` does) over a copy changes nothing, version included."""
    committed = CHARTS / preset
    assert (committed / "Chart.yaml").is_file(), f"charts/{preset} missing; {STALE}"
    copy = tmp_path / preset
    shutil.copytree(committed, copy)
    chartgen.generate(preset, preset, output=copy, force=True)
    now, there = tree(copy), tree(committed)
    differ = sorted(k for k in set(now) | set(there) if now.get(k) != there.get(k))
    assert not differ, f"charts/{preset}: {', '.join(differ)} differ from a fresh generate; {STALE}"


@pytest.mark.parametrize("preset", chartgen.published_preset_names())
def test_the_preset_declares_the_published_version(preset):
    """preset.yaml's version is the one source: a fresh generate and charts/ carry it alike."""
    declared = chartgen.load_preset(preset).version
    published = versioning.metadata(CHARTS / preset)["version"]
    assert published == declared, (
        f"charts/{preset} is {published} but presets/{preset}/preset.yaml says {declared}: "
        "bump the preset's version when its content changes, then run `make charts`")


@pytest.mark.parametrize("preset", chartgen.published_preset_names())
def test_index_lists_the_current_version_with_its_digest(preset, index, tmp_path):
    version = versioning.metadata(CHARTS / preset)["version"]
    entries = {e["version"]: e for e in index["entries"].get(preset, [])}
    assert version in entries, f"{preset} {version} not in charts/index.yaml; {STALE}"
    entry = entries[version]
    archive = CHARTS / f"{preset}-{version}.tgz"
    assert entry["urls"] == [archive.name]
    assert entry["digest"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    # the archive is the chart folder, packaged: repackaging gives the same bytes
    assert publish.package([CHARTS / preset], tmp_path)[0].digest == entry["digest"], STALE


def test_every_archive_is_listed_and_every_entry_has_its_archive(index):
    listed = {}
    for name, versions in index["entries"].items():
        for e in versions:
            (url,) = e["urls"]
            listed[url] = e["digest"]
            assert (CHARTS / url).is_file(), f"index.yaml lists {url}, which is not in charts/"
    archives = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in CHARTS.glob("*.tgz")}
    assert archives == listed


def test_helm_can_use_charts_as_a_repository(serve, index):
    url, _ = serve(CHARTS)
    helm("repo", "add", "chartgen", url)
    found = yaml.safe_load(helm("search", "repo", "chartgen/", "-o", "yaml").stdout)
    assert sorted(c["name"] for c in found) == [f"chartgen/{p}" for p in chartgen.published_preset_names()]
    for preset in chartgen.published_preset_names():
        helm("template", preset, f"chartgen/{preset}")
