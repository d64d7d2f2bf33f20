"""charts/ is the repository's Helm repository: one chart folder per published preset and flavor
(mysql and mariadb, redis and valkey; the component preset publishes none: its chart is made for
the user's image), exactly what the presets generate now (`make charts`), every version's .tgz,
and an index.yaml that lists them with their digests and that helm can use."""

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
PUBLISHED = chartgen.published_charts()
NAMES = [c.name for c in PUBLISHED]


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def index():
    path = CHARTS / "index.yaml"
    assert path.is_file(), f"{path} missing; {STALE}"
    return yaml.safe_load(path.read_text())


def test_one_chart_folder_per_published_preset_and_flavor():
    assert [p.name for p in publish.chart_dirs(CHARTS)] == NAMES, STALE
    # every flavor of a published preset is published (a MariaDB or Valkey user installs from here)
    for name in chartgen.published_preset_names():
        spec = chartgen.load_preset(name)
        assert sorted(c.flavor for c in PUBLISHED if c.preset == name and c.flavor) == sorted(f.name for f in spec.flavors)
    assert {"mysql", "mariadb", "redis", "valkey"} <= set(NAMES)
    unpublished = sorted(set(chartgen.preset_names()) - set(chartgen.published_preset_names()))
    readme = (ROOT / "README.md").read_text()
    for name in unpublished:  # the README says why charts/ has no chart of it
        assert f"charts/ publishes no {name} chart" in readme


@pytest.mark.parametrize("chart", PUBLISHED, ids=NAMES)
def test_chart_is_what_the_preset_generates_now(chart, tmp_path):
    """Regenerating (as `make charts` does) over a copy changes nothing, version included."""
    committed = CHARTS / chart.name
    assert (committed / "Chart.yaml").is_file(), f"charts/{chart.name} missing; {STALE}"
    copy = tmp_path / chart.name
    shutil.copytree(committed, copy)
    made = chartgen.generate(chart.preset, chart.name, flavor=chart.flavor, output=copy, force=True)
    assert made.metadata["annotations"].get("chartgen.io/flavor", None) == chart.flavor
    now, there = tree(copy), tree(committed)
    differ = sorted(k for k in set(now) | set(there) if now.get(k) != there.get(k))
    assert not differ, f"charts/{chart.name}: {', '.join(differ)} differ from a fresh generate; {STALE}"


@pytest.mark.parametrize("chart", PUBLISHED, ids=NAMES)
def test_the_preset_declares_the_published_version(chart):
    """preset.yaml's version is the one source: a fresh generate and charts/ carry it alike, for
    every flavor's chart of the preset."""
    declared = chartgen.load_preset(chart.preset).version
    published = versioning.metadata(CHARTS / chart.name)["version"]
    assert published == declared, (
        f"charts/{chart.name} is {published} but presets/{chart.preset}/preset.yaml says {declared}: "
        "bump the preset's version when its content changes, then run `make charts`")


@pytest.mark.parametrize("chart", NAMES)
def test_index_lists_the_current_version_with_its_digest(chart, index, tmp_path):
    version = versioning.metadata(CHARTS / chart)["version"]
    entries = {e["version"]: e for e in index["entries"].get(chart, [])}
    assert version in entries, f"{chart} {version} not in charts/index.yaml; {STALE}"
    entry = entries[version]
    archive = CHARTS / f"{chart}-{version}.tgz"
    assert entry["urls"] == [archive.name]
    assert entry["digest"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    # the archive is the chart folder, packaged: repackaging gives the same bytes
    assert publish.package([CHARTS / chart], tmp_path)[0].digest == entry["digest"], STALE


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
    assert sorted(c["name"] for c in found) == [f"chartgen/{n}" for n in NAMES]
    for name in NAMES:
        helm("template", name, f"chartgen/{name}")
