"""Chart versions that follow content: same content keeps its version, changed content bumps it.

The fingerprint of a chart is a sha256 over its files (relative path + bytes, the way
`helm package` sees them: .helmignore applied), with Chart.yaml compared as parsed data
minus ``version`` and the two annotations that describe a version rather than the chart
(the fingerprint itself and ``artifacthub.io/changes``). It is recorded in Chart.yaml as
``chartgen.io/content-digest``, so comparing a fresh render with the chart already on disk
is one annotation read, and deterministic.

`generate` renders with the preset's version first; that render's fingerprint is what is
recorded and compared, so it depends only on the preset and the options, never on the
version the chart happens to carry.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import semver
import yaml

from .errors import InvalidValueError

DIGEST_ANNOTATION = "chartgen.io/content-digest"
CHANGES_ANNOTATION = "artifacthub.io/changes"
VOLATILE_ANNOTATIONS = (DIGEST_ANNOTATION, CHANGES_ANNOTATION)
BUMPS = ("patch", "minor", "major")


# -- the files of a chart -------------------------------------------------------------
def _ignore_patterns(root: Path) -> list[str]:
    path = root / ".helmignore"
    if not path.is_file():
        return []
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]


def _ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    for pat in patterns:
        if pat.endswith("/"):  # a directory anywhere in the path
            if any(fnmatch.fnmatchcase(p, pat[:-1]) for p in parts[:-1]):
                return True
        elif "/" in pat:
            if fnmatch.fnmatchcase(rel, pat.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(parts[-1], pat):
            return True
    return False


def chart_files(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file `helm package` would put in the archive."""
    root = Path(root)
    patterns = _ignore_patterns(root)
    files = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if not _ignored(rel, patterns):
            files[rel] = path.read_bytes()
    return files


def archive_files(tgz: Path) -> dict[str, bytes]:
    """Relative path -> bytes of the files in a packaged chart (its top folder stripped)."""
    files = {}
    with tarfile.open(tgz, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
                files[rel] = tar.extractfile(member).read()
    return files


def archive_metadata(tgz: Path) -> dict[str, Any]:
    return yaml.safe_load(archive_files(tgz)["Chart.yaml"]) or {}


# -- fingerprints ---------------------------------------------------------------------
def _canonical_metadata(raw: bytes, volatile: bool) -> bytes:
    meta = yaml.safe_load(raw) or {}
    if volatile:
        meta.pop("version", None)
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in VOLATILE_ANNOTATIONS}
        meta["annotations"] = annotations
    # helm re-serialises Chart.yaml when it packages (sorted keys, empty fields dropped)
    meta = {k: v for k, v in meta.items() if v not in (None, "", [], {})}
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), default=str).encode()


def digest_files(files: dict[str, bytes], volatile: bool = True) -> str:
    """sha256 over paths and contents. ``volatile=True`` leaves out what a version bump changes
    in Chart.yaml (the version fingerprint); ``False`` compares everything (publish)."""
    h = hashlib.sha256()
    for rel in sorted(files):
        data = files[rel]
        if rel == "Chart.yaml":
            data = _canonical_metadata(data, volatile)
        h.update(rel.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return "sha256:" + h.hexdigest()


def content_digest(chart_dir: Path) -> str:
    return digest_files(chart_files(chart_dir))


def metadata(chart_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((Path(chart_dir) / "Chart.yaml").read_text()) or {}


def parse_version(text: Any, where: str) -> semver.Version:
    try:
        return semver.Version.parse(str(text))
    except (ValueError, TypeError):
        raise InvalidValueError(
            f"{where}: version {text!r} is not semantic versioning; use MAJOR.MINOR.PATCH such as 0.1.0"
        ) from None


def check_bump(bump: str) -> str:
    """The one check of a --bump value."""
    if bump not in BUMPS:
        raise InvalidValueError(f"--bump {bump!r}: choose one of {', '.join(BUMPS)}")
    return bump


def bumped(version: str, bump: str, where: str = "Chart.yaml") -> str:
    """VERSION with its BUMP part raised (BUMP already checked by check_bump)."""
    v = parse_version(version, where)
    return str({"patch": v.bump_patch, "minor": v.bump_minor, "major": v.bump_major}[bump]())


# -- generate: decide the version of a fresh render -------------------------------------
@dataclass
class Decision:
    version: str
    digest: str
    previous: str | None = None  # the version of the chart being replaced
    changes: str | None = None  # artifacthub.io/changes (YAML text) or None for none

    @property
    def bumped(self) -> bool:
        return self.previous is not None and self.version != self.previous


def decide(render: Path, existing: Path | None, base_version: str, bump: str = "patch") -> Decision:
    """Version for ``render`` (made with the preset's ``base_version``) given the chart it
    replaces: unchanged content keeps the existing version; changed content bumps it (never
    below the preset's own version); no previous chart (or another chart's folder) starts at
    the preset's version."""
    new_files = chart_files(render)
    digest = digest_files(new_files)
    old_meta = _previous_metadata(existing, metadata(render).get("name"))
    if old_meta is None:
        return Decision(version=base_version, digest=digest)

    where = f"{existing}/Chart.yaml"
    old_version = str(old_meta.get("version"))
    parse_version(old_version, where)
    old_annotations = old_meta.get("annotations") or {}
    old_digest = old_annotations.get(DIGEST_ANNOTATION)
    if old_digest is None and old_version == base_version:
        old_digest = content_digest(existing)  # a chart from before fingerprints were recorded
    if old_digest == digest:
        return Decision(old_version, digest, previous=old_version, changes=old_annotations.get(CHANGES_ANNOTATION))

    version = max(parse_version(bumped(old_version, bump, where), where), parse_version(base_version, "preset"))
    changes = describe_changes(chart_files(existing), new_files, old_version, base_version, old_meta)
    return Decision(str(version), digest, previous=old_version, changes=changes)


def _previous_metadata(existing: Path | None, name: str | None) -> dict[str, Any] | None:
    if existing is None or not (Path(existing) / "Chart.yaml").is_file():
        return None
    try:
        meta = metadata(existing)
    except yaml.YAMLError:
        return None  # not a chart we can read: it is replaced like any other folder
    if not isinstance(meta, dict) or meta.get("name") != name:
        return None
    return meta


def describe_changes(old: dict[str, bytes], new: dict[str, bytes], old_version: str, new_version: str,
                     old_meta: dict[str, Any]) -> str:
    """artifacthub.io/changes: which files were added, changed and removed."""
    preset = (old_meta.get("annotations") or {}).get("chartgen.io/preset", "its preset")
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = []
    for rel in sorted(set(old) & set(new)):
        if rel == "Chart.yaml":
            same = _canonical_metadata(old[rel], True) == _canonical_metadata(new[rel], True)
        else:  # a file that names the chart's version (the README) is not changed by that alone
            same = old[rel].replace(old_version.encode(), b"\0v") == new[rel].replace(new_version.encode(), b"\0v")
        if not same:
            changed.append(rel)

    def listed(paths: list[str]) -> str:
        return ", ".join(paths[:8]) + (f" and {len(paths) - 8} more" if len(paths) > 8 else "")

    entries = []
    if changed:
        entries.append({"kind": "changed", "description": f"Regenerated from preset {preset}: {listed(changed)}"})
    if added:
        entries.append({"kind": "added", "description": f"New files: {listed(added)}"})
    if removed:
        entries.append({"kind": "removed", "description": f"Files removed: {listed(removed)}"})
    if not entries:
        entries.append({"kind": "changed", "description": f"Regenerated from preset {preset}"})
    return yaml.safe_dump(entries, sort_keys=False)


def stamp(chart_dir: Path, decision: Decision) -> None:
    """Write the decided version and the fingerprint (and changes, on a bump) into Chart.yaml."""
    path = Path(chart_dir) / "Chart.yaml"
    meta = yaml.safe_load(path.read_text())
    meta["version"] = decision.version
    annotations = meta.setdefault("annotations", {})
    annotations[DIGEST_ANNOTATION] = decision.digest
    if decision.changes:
        annotations[CHANGES_ANNOTATION] = decision.changes
    path.write_text(yaml.dump(meta, Dumper=BlockDumper, sort_keys=False))


class BlockDumper(yaml.SafeDumper):
    """safe_dump, with multi-line strings (the Artifact Hub annotations) as literal blocks."""


def _str(dumper: yaml.SafeDumper, text: str):
    style = "|" if "\n" in text and not text.startswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


BlockDumper.add_representer(str, _str)

