"""Preset + options -> a complete chart directory (written to a temp dir, then moved)."""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import library
from . import options
from . import presets as presets_mod
from . import values as values_mod
from . import versioning
from .chart import Chart
from .describe import annotations as describe_annotations
from .errors import InvalidValueError
from .paths import replaceable_chart_dir, writable_dir
from .naming import check_name
from .readme import values_table
from .render import render_file, render_tree

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
    flavor: str | None = None,
    type: str | None = None,  # noqa: A002 - the CLI's --type
    image: str | None = None,
    ports: list[str] | tuple = (),
    storage: str | None = None,
    env: list[str] | tuple = (),
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

    ``type`` is the deployment type (default: the preset's first); ``image`` (IMAGE[:TAG]),
    ``ports`` ([NAME=]NUMBER each), ``storage`` (a size) and ``env`` (NAME=VALUE each) set
    the values of the same name, as the CLI's --image, --port, --storage and --env do.
    """
    spec = presets_mod.load(preset)
    chosen = spec.flavor(flavor)
    spec = spec.for_flavor(chosen)  # a flavor may change its workloads (e.g. a port of its own)
    check_name(name, spec)
    output = Path(output) if output is not None else Path.cwd() / name
    replaceable_chart_dir(output, "--output", force)
    versioning.check_bump(bump)
    if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool)):
        raise InvalidValueError(f"--replicas {replicas!r}: must be a whole number such as 3")
    chart_type = options.chart_type(spec, type, list(sets), [Path(p) for p in values_files], dict(values or {}))
    options.check_replicas(spec, chart_type, replicas)

    schema = library.compose_schema(spec, name)
    direct = dict(values or {})
    direct.update(options.as_values(spec, schema, chart_type, image=image, ports=list(ports or ()),
                                    storage=storage, env=list(env or ())))
    if replicas is not None:
        direct[spec.replicas_field] = replicas
    if namespace is not None:
        direct["namespaceOverride"] = namespace
    chart_values = values_mod.apply_overrides(
        library.compose_values(spec, chosen, chart_type),
        schema,
        values_files=[Path(p) for p in values_files],
        sets=list(sets),
        direct=direct,
    )
    _check_required(spec, chart_values)
    values_mod.validate(chart_values, schema, spec.replicas_field, spec.quorum, spec.max_members_why)

    writable_dir(output.parent, "--output")
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=output.parent))
    staging.chmod(0o755)
    try:
        inputs = Inputs(spec, chosen, name, chart_values, schema)
        _write_chart(staging, inputs)
        found = versioning.decide(staging, output if output.exists() else None, spec.version, bump)
        if found.version != spec.version:  # the chart's files (README) name its version
            _write_chart(staging, inputs, found.version)
        versioning.stamp(staging, found)
        _replace(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Chart(output)


def _check_required(spec: presets_mod.Preset, chart_values: Any) -> None:
    """Values the preset has no default for (a component's image) must come from the user."""
    plain = yaml.safe_load(values_mod.dump(chart_values))
    for path, flag in spec.required_values.items():
        if library.read_path(plain, path) in (None, ""):
            raise InvalidValueError(f"{flag.split()[0]}: preset {spec.name} has no default for {path}; pass {flag}")


@dataclass(frozen=True)
class Inputs:
    """Everything a chart is generated from."""

    preset: presets_mod.Preset
    flavor: presets_mod.Flavor | None
    name: str
    values: Any  # the chart's default values (ruamel CommentedMap, comments kept)
    schema: dict[str, Any]


def _context(inputs: Inputs, version: str | None = None) -> dict[str, Any]:
    spec = inputs.preset
    plain = yaml.safe_load(values_mod.dump(inputs.values))
    tag = str(plain.get("image", {}).get("tag", ""))
    return {
        "name": inputs.name,
        "preset": spec,
        "chart_type": str(plain.get("type") or spec.default_type),
        "flavor": inputs.flavor.name if inputs.flavor else "",
        # the flavor's server names (preset.yaml: flavors.<name>.engine), e.g. [[ engine.cli ]]
        "engine": dict(inputs.flavor.engine) if inputs.flavor else {},
        # the chart each flavor is published as in charts/ (flavor -> chart name)
        "flavor_charts": {c.flavor: c.name for c in presets_mod.charts_of(spec) if c.flavor},
        "description": spec.description,
        "chart_version": version or spec.version,
        "app_version": tag.lstrip("v") or spec.version,
        "values": plain,
    }


def _write_chart(dst: Path, inputs: Inputs, version: str | None = None) -> None:
    spec = inputs.preset
    ctx = _context(inputs, version)
    for sub in ("templates", "files"):  # the library first: a preset's file of the same name wins
        for root in (presets_mod.library_dir(), spec.path):
            if (root / sub).is_dir():
                render_tree(root / sub, dst / sub, ctx)
    (dst / "values.schema.json").write_text(json.dumps(inputs.schema, indent=2) + "\n")
    (dst / "values.yaml").write_text(values_mod.dump(inputs.values))
    (dst / "Chart.yaml").write_text(_chart_yaml(inputs, ctx))
    (dst / ".helmignore").write_text(HELMIGNORE)
    readme = render_file(spec.path / "README.md.j2", {**ctx, "values_table": values_table(inputs.schema, ctx["values"])})
    (dst / "README.md").write_text(readme)


def _chart_yaml(inputs: Inputs, ctx: dict[str, Any]) -> str:
    spec = inputs.preset
    images = []
    paths = set(spec.images) | set(inputs.flavor.images if inputs.flavor else {})
    if (library.read_path(ctx["values"], "image") or {}).get("repository"):
        paths.add("image")  # a component's image: the user's, not a pin
    for path in sorted(paths):
        block = library.read_path(ctx["values"], path)
        images.append({"name": path.split(".")[-1], "image": _image_ref(block)})
    meta = {
        "apiVersion": "v2",
        "name": ctx["name"],
        "description": spec.description,
        "type": "application",
        "version": ctx["chart_version"],
        "appVersion": str(ctx["app_version"]),
        "kubeVersion": spec.chart.kube_version,
        "keywords": list(spec.chart.keywords),
        "home": spec.chart.home,
        "sources": list(spec.chart.sources),
        "maintainers": [{"name": "chartgen"}],
        "annotations": {
            **describe_annotations(spec, inputs.flavor, ctx["chart_type"]),
            "artifacthub.io/license": spec.chart.license,
            "artifacthub.io/images": yaml.safe_dump(images, sort_keys=False),
        },
    }
    if _links(spec):
        meta["annotations"]["artifacthub.io/links"] = yaml.safe_dump(_links(spec), sort_keys=False)
    return yaml.safe_dump(meta, sort_keys=False)


def _image_ref(block: dict[str, Any]) -> str:
    ref = f"{block['registry']}/{block['repository']}" if block.get("registry") else block["repository"]
    return f"{ref}@{block['digest']}" if block.get("digest") else f"{ref}:{block['tag']}"


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
