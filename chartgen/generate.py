"""Preset + options -> a complete chart directory (written to a temp dir, then moved)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from . import presets as presets_mod
from . import values as values_mod
from . import versioning
from .chart import Chart
from .errors import InvalidValueError, OutputExistsError
from .naming import check_name
from .readme import values_table
from .render import environment, render_tree

HELMIGNORE = """# Patterns to ignore when building packages.
.DS_Store
.git/
*.swp
*.bak
*.tmp
*.orig
*~
"""


def generate(
    preset: str,
    name: str,
    *,
    replicas: int | None = None,
    namespace: str | None = None,
    values: dict[str, Any] | None = None,
    values_files: list[Path] | tuple = (),
    sets: list[str] | tuple = (),
    output: Path | str | None = None,
    force: bool = False,
    bump: str = "patch",
) -> Chart:
    """Generate a chart and return it. Nothing is written unless everything validates.

    Replacing a chart (``force``) keeps its version when the content is unchanged and bumps
    it (``bump``: patch, minor or major) when it changed; see versioning.py.
    """
    spec = presets_mod.load(preset)
    check_name(name, spec)
    output = Path(output) if output is not None else Path.cwd() / name
    if output.exists() and not force:
        raise OutputExistsError(
            f"--output {output}: already exists; pass --force to replace it or choose another directory"
        )
    if bump not in versioning.BUMPS:
        raise InvalidValueError(f"--bump {bump!r}: choose one of {', '.join(versioning.BUMPS)}")
    if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool)):
        raise InvalidValueError(f"--replicas {replicas!r}: must be a whole number such as 3")

    schema = spec.schema
    direct = dict(values or {})
    if replicas is not None:
        direct[spec.replicas_field] = replicas
    if namespace is not None:
        direct["namespaceOverride"] = namespace
    chart_values = values_mod.apply_overrides(
        values_mod.load_defaults(spec.default_values_file),
        schema,
        values_files=[Path(p) for p in values_files],
        sets=list(sets),
        direct=direct,
    )
    values_mod.validate(chart_values, schema, spec.replicas_field, spec.quorum)

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=output.parent))
    staging.chmod(0o755)
    try:
        _write_chart(staging, spec, name, chart_values)
        found = versioning.decide(staging, output if output.exists() else None, spec.chart.version, bump)
        if found.version != spec.chart.version:  # the chart's files (README) name its version
            _write_chart(staging, spec, name, chart_values, found.version)
        versioning.stamp(staging, found)
        _replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Chart(output)


def _context(spec: presets_mod.Preset, name: str, chart_values: Any, version: str | None = None) -> dict[str, Any]:
    plain = yaml.safe_load(values_mod.dump(chart_values))
    tag = str(plain.get("image", {}).get("tag", ""))
    return {
        "name": name,
        "preset": spec,
        "description": spec.description,
        "chart_version": version or spec.chart.version,
        "app_version": tag.lstrip("v") or spec.chart.version,
        "values": plain,
    }


def _write_chart(dst: Path, spec: presets_mod.Preset, name: str, chart_values: Any, version: str | None = None) -> None:
    ctx = _context(spec, name, chart_values, version)
    render_tree(presets_mod.common_dir() / "templates", dst / "templates", ctx)
    for sub in ("templates", "files"):
        if (spec.path / sub).is_dir():
            render_tree(spec.path / sub, dst / sub, ctx)
    env = environment([spec.path])
    (dst / "values.schema.json").write_text(env.get_template("values.schema.json").render(**ctx))
    (dst / "values.yaml").write_text(values_mod.dump(chart_values))
    (dst / "Chart.yaml").write_text(_chart_yaml(spec, ctx))
    (dst / ".helmignore").write_text(HELMIGNORE)
    readme = env.get_template("README.md.j2").render(
        **ctx, values_table=values_table(spec.schema, ctx["values"])
    )
    (dst / "README.md").write_text(readme)


def _chart_yaml(spec: presets_mod.Preset, ctx: dict[str, Any]) -> str:
    images = []
    for path in spec.images:
        block = ctx["values"]
        for key in path.split("."):
            block = block[key]
        ref = f"{block['registry']}/{block['repository']}:{block['tag']}"
        images.append({"name": path.split(".")[-1], "image": ref})
    meta = {
        "apiVersion": "v2",
        "name": ctx["name"],
        "description": spec.description,
        "type": "application",
        "version": ctx["chart_version"],
        "appVersion": str(ctx["app_version"]),
        "kubeVersion": spec.chart.kube_version,
        "keywords": spec.chart.keywords,
        "home": spec.chart.home,
        "sources": spec.chart.sources,
        "maintainers": [{"name": "chartgen"}],
        "annotations": {
            "chartgen.io/preset": spec.name,
            "artifacthub.io/license": spec.chart.license,
            "artifacthub.io/images": yaml.safe_dump(images, sort_keys=False),
        },
    }
    if _links(spec):
        meta["annotations"]["artifacthub.io/links"] = yaml.safe_dump(_links(spec), sort_keys=False)
    return yaml.safe_dump(meta, sort_keys=False)


def _links(spec: presets_mod.Preset) -> list[dict[str, str]]:
    links = [{"name": "Homepage", "url": spec.chart.home}] if spec.chart.home else []
    return links + [{"name": "Source", "url": url} for url in spec.chart.sources]


def _replace(staging: Path, output: Path) -> None:
    """Move the finished chart into place; an old one is swapped out, then removed."""
    if output.exists():
        old = output.with_name(f".{output.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        output.rename(old)
        staging.rename(output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(output)
