"""Package charts, keep a Helm repository's index.yaml, push to OCI registries.

A published version never changes content:
- packaging is reproducible (files are archived with one fixed mtime), so the same chart gives
  the same .tgz bytes and the same digest every time;
- publish refuses a chart whose name and version are already in the index with other content,
  and an index entry whose digest does not match the file it lists;
- push pulls what the registry already holds under that version and refuses other content.

Why not `helm repo index --merge`: it re-indexes every archive in the folder with a new
``created`` time on each run, and an archive whose name and version are already in the merged
index silently replaces that entry (checked with helm v4.3.1). The index is written here with
PyYAML instead, in helm's layout (entries by name, newest version first, keys sorted).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import semver
import yaml

from . import versioning
from .errors import (
    ChartNotFoundError,
    InvalidValueError,
    RepositoryIndexError,
    VersionConflictError,
)
from .helm import Helm
from .paths import writable_dir

#: mtime of every file in a packaged chart (SOURCE_DATE_EPOCH wins): 2000-01-01T00:00:00Z
FIXED_MTIME = 946684800


@dataclass
class Packaged:
    path: Path
    name: str
    version: str
    digest: str  # sha256 hex of the archive
    metadata: dict[str, Any]

    @property
    def filename(self) -> str:
        return self.path.name


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _mtime() -> int:
    return int(os.environ.get("SOURCE_DATE_EPOCH", FIXED_MTIME))


def check_chart_dir(chart: Path) -> dict[str, Any]:
    chart = Path(chart)
    if not (chart / "Chart.yaml").is_file():
        raise ChartNotFoundError(f"CHART {chart}: no Chart.yaml there; pass a chart directory (e.g. charts/etcd)")
    try:
        meta = versioning.metadata(chart)
    except yaml.YAMLError:
        raise InvalidValueError(f"{chart}/Chart.yaml: not valid YAML; fix it or regenerate the chart") from None
    if not isinstance(meta, dict) or not meta.get("name"):
        raise InvalidValueError(f"{chart}/Chart.yaml: no chart name; regenerate the chart")
    versioning.parse_version(meta.get("version"), f"{chart}/Chart.yaml")
    return meta


def package_chart(chart: Path, destination: Path, helm: Helm | None = None) -> Packaged:
    """helm package, reproducibly: a copy of the chart with every mtime set to one value."""
    chart = Path(chart)
    meta = check_chart_dir(chart)
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)  # callers checked it (package, publish)
    with tempfile.TemporaryDirectory(prefix="chartgen-package-") as tmp:
        copy = Path(tmp) / meta["name"]
        shutil.copytree(chart, copy, symlinks=False)
        stamp = _mtime()
        for path in sorted(copy.rglob("*"), reverse=True):
            os.utime(path, (stamp, stamp), follow_symlinks=False)
        archive = (helm or Helm()).package(copy, destination)
    return describe(archive)


def describe(archive: Path) -> Packaged:
    archive = Path(archive)
    if not archive.is_file() or not archive.name.endswith(".tgz"):
        raise ChartNotFoundError(f"CHART {archive}: not a packaged chart (.tgz) nor a chart directory")
    meta = versioning.archive_metadata(archive)
    return Packaged(archive, meta["name"], str(meta["version"]), sha256(archive), meta)


def package(charts: Iterable[Path], destination: Path, helm: Helm | None = None) -> list[Packaged]:
    """Package chart directories into DESTINATION (helm runs in parallel). An archive already
    there under the same name and version is kept if its content is the same, and refused
    (nothing written) if not: that version was packaged before with other content."""
    charts = [Path(c) for c in charts]
    for chart in charts:
        check_chart_dir(chart)
    helm = helm or Helm()
    destination = Path(destination)
    with tempfile.TemporaryDirectory(prefix="chartgen-package-") as tmp:
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(charts)))) as pool:
            made = list(pool.map(lambda c: package_chart(c, Path(tmp), helm), charts))
        for pkg in made:
            there = destination / pkg.filename
            if there.is_file() and sha256(there) != pkg.digest and not same_files(there, pkg.path):
                raise VersionConflictError(
                    f"{pkg.name} {pkg.version}: {there} already exists with other content; a packaged "
                    "version never changes: bump the chart's version (chartgen generate --force --bump "
                    "patch|minor|major) or remove that file"
                )
        writable_dir(destination, "--destination")
        out = []
        for pkg in made:
            there = destination / pkg.filename
            if not (there.is_file() and sha256(there) == pkg.digest):
                shutil.copyfile(pkg.path, there)
            out.append(Packaged(there, pkg.name, pkg.version, sha256(there), pkg.metadata))
        return out


def same_files(a: Path, b: Path) -> bool:
    """Two packaged charts hold the same files (Chart.yaml compared as data)."""
    return versioning.digest_files(versioning.archive_files(a), volatile=False) == \
        versioning.digest_files(versioning.archive_files(b), volatile=False)


def chart_dirs(folder: Path) -> list[Path]:
    """The chart directories directly inside FOLDER (e.g. charts/)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / "Chart.yaml").is_file())


# -- index.yaml ----------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as the strings they were (created, generated)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_index(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"apiVersion": "v1", "entries": {}, "generated": _now()}
    try:
        index = yaml.load(path.read_text(), Loader=_Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise RepositoryIndexError(f"{path}: not valid YAML{where}; fix it or move it away") from None
    if not isinstance(index, dict) or not isinstance(index.get("entries", {}), dict):
        raise RepositoryIndexError(f"{path}: not a Helm repository index (no 'entries' mapping); fix it or move it away")
    index.setdefault("apiVersion", "v1")
    index["entries"] = index.get("entries") or {}
    for name, versions in index["entries"].items():
        if not isinstance(versions, list) or not all(isinstance(v, dict) and "version" in v for v in versions):
            raise RepositoryIndexError(f"{path}: entries.{name} is not a list of chart versions; fix it")
    return index


def _local_file(repo_dir: Path, entry: dict[str, Any]) -> Path | None:
    for url in entry.get("urls") or []:
        candidate = repo_dir / str(url).rstrip("/").rsplit("/", 1)[-1]
        if candidate.is_file():
            return candidate
    return None


def check_index(index: dict[str, Any], repo_dir: Path, index_path: Path) -> None:
    """Every entry whose archive is in the folder must carry that archive's digest."""
    for name, versions in index["entries"].items():
        for entry in versions:
            local = _local_file(repo_dir, entry)
            if local is None or not entry.get("digest"):
                continue
            actual = sha256(local)
            if actual != entry["digest"]:
                raise RepositoryIndexError(
                    f"{index_path}: {name} {entry['version']} lists digest {entry['digest'][:12]}… but "
                    f"{local.name} has {actual[:12]}…; the archive was replaced after publishing: restore it, "
                    "or delete the file and its entry and publish a new version"
                )


def _same_content(new: Packaged, entry: dict[str, Any], local: Path | None) -> bool:
    if entry.get("digest") == new.digest:
        return True
    if local is not None:  # compare what is inside: every file, all of Chart.yaml
        return same_files(local, new.path)
    old = (entry.get("annotations") or {}).get(versioning.DIGEST_ANNOTATION)
    mine = (new.metadata.get("annotations") or {}).get(versioning.DIGEST_ANNOTATION)
    return old is not None and old == mine


def _entry(pkg: Packaged, url: str | None) -> dict[str, Any]:
    entry = {k: v for k, v in pkg.metadata.items() if v not in (None, "", [], {})}
    entry["version"] = pkg.version
    entry["urls"] = [f"{url.rstrip('/')}/{pkg.filename}" if url else pkg.filename]
    entry["created"] = _now()
    entry["digest"] = pkg.digest
    return dict(sorted(entry.items()))


def _version_key(entry: dict[str, Any]):
    try:
        return (1, semver.Version.parse(str(entry["version"])))
    except ValueError:
        return (0, semver.Version(0))


def dump_index(index: dict[str, Any]) -> str:
    entries = {name: sorted(index["entries"][name], key=_version_key, reverse=True)
               for name in sorted(index["entries"])}
    ordered = {"apiVersion": index.get("apiVersion", "v1"), "entries": entries,
               "generated": index.get("generated") or _now()}
    ordered.update({k: v for k, v in index.items() if k not in ordered})
    return yaml.dump(ordered, Dumper=versioning.BlockDumper, sort_keys=False, width=1000)


@dataclass
class PublishResult:
    index: Path
    added: list[Packaged] = field(default_factory=list)
    kept: list[Packaged] = field(default_factory=list)  # already published with this content


def publish(charts: Iterable[Path], repo_dir: Path, url: str | None = None, helm: Helm | None = None) -> PublishResult:
    """Package CHARTS (directories or .tgz) into REPO_DIR and add them to its index.yaml.

    With no URL the entries' urls are relative (``etcd-0.1.0.tgz``): helm resolves them against
    wherever the repository is served. Nothing is written unless every chart can be added.
    """
    repo_dir = writable_dir(Path(repo_dir), "--repo-dir")
    charts = [Path(c) for c in charts] or chart_dirs(repo_dir)
    if not charts:
        raise ChartNotFoundError(
            f"CHARTS: nothing to publish; pass chart directories or .tgz files, or put charts in --repo-dir {repo_dir}"
        )
    if url is not None and not url.startswith(("http://", "https://")):
        raise InvalidValueError(f"--url {url!r}: expected http(s)://HOST/PATH where the repository is served")
    index_path = repo_dir / "index.yaml"
    index = load_index(index_path)
    check_index(index, repo_dir, index_path)

    result = PublishResult(index_path)
    with tempfile.TemporaryDirectory(prefix="chartgen-publish-") as tmp:
        dirs = [c for c in charts if not c.name.endswith(".tgz")]
        packaged = package(dirs, Path(tmp), helm) if dirs else []
        packaged += [describe(c) for c in charts if c.name.endswith(".tgz")]

        to_add: list[Packaged] = []
        for pkg in packaged:
            entries = index["entries"].get(pkg.name, [])
            entry = next((e for e in entries if str(e["version"]) == pkg.version), None)
            twin = next((p for p in to_add if (p.name, p.version) == (pkg.name, pkg.version)), None)
            if twin is not None:
                if twin.digest != pkg.digest:
                    raise VersionConflictError(
                        f"{pkg.name} {pkg.version}: given twice with different content; bump one's version"
                    )
                continue
            local = _local_file(repo_dir, entry) if entry else None
            if entry is None:
                to_add.append(pkg)
            elif _same_content(pkg, entry, local):
                if local is None:  # listed, same content, but the archive is not here: put it back
                    to_add.append(pkg)
                else:
                    result.kept.append(pkg)
            else:
                raise VersionConflictError(
                    f"{pkg.name} {pkg.version}: already published in {index_path} with other content "
                    f"(digest {str(entry.get('digest'))[:12]}…, this one {pkg.digest[:12]}…); a published "
                    "version never changes: bump the chart's version (chartgen generate --force --bump "
                    "patch|minor|major, or edit Chart.yaml) and publish again"
                )

        if not to_add:
            return result
        writable_dir(repo_dir, "--repo-dir")
        for pkg in to_add:
            entries = index["entries"].setdefault(pkg.name, [])
            entries[:] = [e for e in entries if str(e["version"]) != pkg.version]
            target = repo_dir / pkg.filename
            if pkg.path.resolve() != target.resolve():
                shutil.copyfile(pkg.path, target)
            entries.append(_entry(pkg, url))
            result.added.append(Packaged(target, pkg.name, pkg.version, pkg.digest, pkg.metadata))
    index["generated"] = _now()
    tmp_index = index_path.with_name(".index.yaml.tmp")
    tmp_index.write_text(dump_index(index))
    os.replace(tmp_index, index_path)
    return result


# -- OCI -----------------------------------------------------------------------------------
@dataclass
class Pushed:
    package: Packaged
    ref: str
    digest: str  # the OCI manifest digest helm reported; "" when already there
    already: bool = False


def _check_oci(remote: str) -> str:
    if not remote.startswith("oci://") or not remote[len("oci://"):].split("/", 1)[0]:
        raise InvalidValueError(f"--oci {remote!r}: expected oci://HOST[:PORT]/PATH, e.g. oci://127.0.0.1:5000/charts")
    return remote.rstrip("/")


def push(charts: Iterable[Path], remote: str, plain_http: bool = False, helm: Helm | None = None) -> list[Pushed]:
    """helm push each chart (directory: packaged first; .tgz: as is) to oci://HOST/PATH.

    A version the registry already holds is pulled and compared first: same content is left
    alone, other content is refused (a tag that moves is a published version that changed).
    """
    remote = _check_oci(remote)
    charts = [Path(c) for c in charts]
    if not charts:
        raise ChartNotFoundError("CHARTS: nothing to push; pass chart directories or packaged .tgz files")
    helm = helm or Helm()
    out = []
    with tempfile.TemporaryDirectory(prefix="chartgen-push-") as tmp:
        dirs = [c for c in charts if not c.name.endswith(".tgz")]
        packaged = package(dirs, Path(tmp) / "packaged", helm) if dirs else []
        packaged += [describe(c) for c in charts if c.name.endswith(".tgz")]
        plan = []  # check every chart before pushing any
        for i, pkg in enumerate(packaged):
            ref = f"{remote}/{pkg.name}"
            there = helm.pull(ref, pkg.version, Path(tmp) / f"pulled-{i}", plain_http=plain_http)
            if there is not None and sha256(there) != pkg.digest and not same_files(there, pkg.path):
                raise VersionConflictError(
                    f"{pkg.name} {pkg.version}: {ref}:{pkg.version} already holds other content; a "
                    "published version never changes: bump the chart's version and push again"
                )
            plan.append((pkg, ref, there is not None))
        for pkg, ref, already in plan:
            digest = "" if already else helm.push(pkg.path, remote, plain_http=plain_http)
            out.append(Pushed(pkg, f"{ref}:{pkg.version}", digest, already=already))
    return out
