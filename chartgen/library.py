"""The preset library's fragments merged into a preset's own, at generation time.

- values: the library's commented `values.yaml` blocks (pod settings, persistence, probes,
  network policy, ...) and the preset's own `values.yaml`. The preset's keys come first, in
  its order; a block both define is merged key by key, the preset's keys and values first,
  then the library's other keys; the library's remaining blocks follow in the library's
  order. Every key keeps the comment written above it (the preset's wins). Image blocks are filled from
  the pins in versions.env (the preset names the pin key), so a tag lives in one place.
- schema: the library's `schema.yaml` holds shared `$defs` (image, resources, probe,
  persistence, security contexts...) and the top-level properties every chart has; the
  preset's `schema.yaml` holds its own properties and may `$ref` the shared defs. The
  result is one self-contained JSON schema: references are inlined (a `$ref` node's sibling
  keys override the referenced ones), so Helm and every reader see plain properties.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from . import topology
from . import values as values_mod
from .presets import Flavor, Preset, library_dir
from .versions import image as pinned_image


# -- values ---------------------------------------------------------------------------------
# Comments are kept as "the lines before a key" (ruamel stores them after the previous leaf,
# where they would travel with that leaf when blocks are merged or reordered): both files'
# comments are detached into {path: lines}, the values composed, then every key gets its own
# lines back (the preset's win over the library's).
Path_ = tuple


def _lines(text: str, skip_first: bool) -> list[str]:
    """Comment lines (without '#' and one space) and blank lines of a comment token's text."""
    raw = text.split("\n")
    if skip_first:  # the rest of the key's own line (an end-of-line comment, or nothing)
        raw = raw[1:]
    if raw and raw[-1] == "":
        raw = raw[:-1]
    out = []
    for line in raw:
        line = line.strip()
        if line.startswith("#"):
            line = line[1:]
            out.append(line[1:] if line.startswith(" ") else line)
        elif not line:
            out.append("")
    return out


def _detach(node: Any, path: Path_, befores: dict, eols: dict, header: bool = False) -> list[str]:
    """Move NODE's comments (recursively) into BEFORES {path of key: lines} and EOLS {path: text};
    return the lines that follow its last leaf (they precede whatever comes next)."""
    if isinstance(node, CommentedSeq):
        pending = []
        for i, item in enumerate(node):
            token = node.ca.items.pop(i, None)
            pending = _detach(item, path + (i,), befores, eols)
            for part in token or ():
                for tok in part if isinstance(part, list) else [part] if part is not None else []:
                    pending = pending + _lines(tok.value, True)
        return pending
    if not isinstance(node, CommentedMap):
        return []
    pending: list[str] = []
    if node.ca.comment and len(node.ca.comment) > 1 and node.ca.comment[1]:
        lines = [ln for tok in node.ca.comment[1] for ln in _lines(tok.value, False)]
        if header:  # a file's "## ..." header belongs to the file, not to its first key
            lines = [ln for ln in lines if not ln.startswith("#")]
            while lines and lines[0] == "":
                lines = lines[1:]
        pending = lines
    for key in list(node):
        token = node.ca.items.pop(key, None)
        if token and len(token) > 1 and token[1]:
            pending = pending + [ln for tok in token[1] for ln in _lines(tok.value, False)]
        if pending:
            befores[path + (key,)] = pending
        pending = _detach(node[key], path + (key,), befores, eols)
        if token and len(token) > 2 and token[2] is not None:
            first, _, _rest = token[2].value.partition("\n")
            if "#" in first:
                eols[path + (key,)] = first.split("#", 1)[1].strip()
            pending = pending + _lines(token[2].value, True)
    node.ca.comment = None
    return pending


def _attach(node: Any, path: Path_, befores: dict, eols: dict) -> None:
    if isinstance(node, CommentedSeq):
        for i, item in enumerate(node):
            _attach(item, path + (i,), befores, eols)
        return
    if not isinstance(node, CommentedMap):
        return
    for key in list(node):
        lines = befores.get(path + (key,))
        if lines:
            node.yaml_set_comment_before_after_key(key, before="\n".join(lines), indent=2 * len(path))
        if path + (key,) in eols:
            node.yaml_add_eol_comment(eols[path + (key,)], key)
        _attach(node[key], path + (key,), befores, eols)


def _add_missing(own: CommentedMap, shared: CommentedMap) -> None:
    """Complete OWN with SHARED's keys it lacks, in place: OWN's keys keep their order and
    values (nested maps completed key by key), SHARED's other keys follow in SHARED's order."""
    for key, value in shared.items():
        if key not in own:
            own[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(own[key], dict):
            _add_missing(own[key], value)


def compose_values(preset: Preset, flavor: Flavor | None = None, chart_type: str | None = None) -> CommentedMap:
    """The chart's default values.yaml (comments kept): preset first, then the library; the
    flavor's values, then the defaults of the deployment type (preset.yaml: typeValues,
    singleValues), laid over them."""
    own = values_mod.load_defaults(preset.path / "values.yaml")
    shared = values_mod.load_defaults(library_dir() / "values.yaml")
    header = own.ca.comment[1] if own.ca.comment and len(own.ca.comment) > 1 else None
    header = [tok for tok in header or [] if tok.value.lstrip().startswith("##")]
    befores: dict = {}
    eols: dict = {}
    _detach(shared, (), befores, eols, header=True)
    mine: dict = {}
    _detach(own, (), mine, eols, header=True)
    befores.update(mine)
    _add_missing(own, shared)
    images = dict(preset.images)
    if flavor is not None:
        images.update(flavor.images)
        for path, value in flavor.values.items():
            values_mod.set_path(own, path.split("."), copy.deepcopy(value))
    chart_type = chart_type or preset.default_type
    if "type" in own:
        own["type"] = chart_type
    for path, value in preset.values_for_type(chart_type).items():
        values_mod.set_path(own, path.split("."), copy.deepcopy(value))
    for path, pin_key in images.items():
        block = own
        for part in path.split("."):
            block = block.setdefault(part, CommentedMap())
        for pos, (key, value) in enumerate(pinned_image(pin_key).values().items()):
            if key in block:
                block[key] = value
            else:
                block.insert(pos, key, value)
        block.setdefault("pullPolicy", "IfNotPresent")
    # the file's start: the preset's "## ..." header, then its first key's comment
    first_lines = befores.pop((next(iter(own)),), None) or []
    _attach(own, (), befores, eols)
    text = "".join(tok.value for tok in header) + "".join(("# " + ln if ln else "") + "\n" for ln in first_lines)
    own.ca.comment = [None, [CommentToken(text, CommentMark(0))]] if text else None
    return own


# -- schema ---------------------------------------------------------------------------------
@functools.cache
def _library_schema() -> dict[str, Any]:
    return yaml.safe_load((library_dir() / "schema.yaml").read_text())


def _inline(node: Any, defs: dict[str, Any], trail: tuple[str, ...] = ()) -> Any:
    """Replace every {"$ref": "#/$defs/x", ...siblings} by a copy of x with the siblings on top."""
    if isinstance(node, list):
        return [_inline(item, defs, trail) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        name = ref.removeprefix("#/$defs/")
        if name == ref or name not in defs:
            raise ValueError(f"schema: unknown reference {ref!r}; shared definitions: {sorted(defs)}")
        if name in trail:
            raise ValueError(f"schema: reference cycle through {name!r}")
        merged = copy.deepcopy(_inline(defs[name], defs, trail + (name,)))
        for key, value in node.items():
            if key == "$ref":
                continue
            if key == "properties" and isinstance(value, dict):
                merged.setdefault("properties", {}).update(_inline(value, defs, trail))
            else:
                merged[key] = _inline(value, defs, trail)
        return merged
    return {key: _inline(value, defs, trail) for key, value in node.items()}


def _overlay(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """OVER on top of BASE: nested objects merged key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _overlay(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def compose_schema(preset: Preset, chart_name: str) -> dict[str, Any]:
    """One self-contained values.schema.json: library properties + the preset's own.

    A property both define is the library's with the preset's keys laid over it, so a
    preset that only sharpens a description writes just that description."""
    shared = _library_schema()
    own = yaml.safe_load((preset.path / "schema.yaml").read_text()) or {}
    defs = {**shared.get("$defs", {}), **own.get("$defs", {})}
    properties = _inline(own.get("properties", {}), defs)
    for key, value in _inline(shared.get("properties", {}), defs).items():
        properties[key] = _overlay(value, properties[key]) if key in properties else value
    # the StatefulSet names <fullname><suffix> must fit in 52 characters
    longest = max((len(w.name_suffix) for w in preset.workloads if w.kind in ("StatefulSet", "fromType")),
                  default=0)
    if "fullnameOverride" in properties and longest:
        properties["fullnameOverride"]["maxLength"] = 52 - longest
        properties["fullnameOverride"]["description"] = (
            f"Replaces the full object name prefix (at most {52 - longest} characters: "
            f"the StatefulSet adds {max((w.name_suffix for w in preset.workloads), key=len)})")
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"{chart_name} (chartgen {preset.name} preset) values",
        "type": "object",
        "additionalProperties": False,
        "required": sorted(set(shared.get("required", [])) | set(own.get("required", []))),
        "properties": properties,
    }
    for key in ("allOf", "if", "then", "else"):
        if key in own:
            schema[key] = _inline(own[key], defs)
    if preset.quorum:
        schema["allOf"] = schema.get("allOf", []) + [count_rule_schema(preset)]
    if "type" in properties:
        properties["type"]["enum"] = list(preset.types)
        rules = [single_type_rule(t, preset.replicas_field) for t in preset.types if t.endswith("-single")]
        if rules:
            schema["allOf"] = schema.get("allOf", []) + rules
    return schema


def count_rule_schema(preset: Preset) -> dict[str, Any]:
    """The member count rule of a majority preset with its reason: a count outside 1, 3, 5, 7
    makes the rule require a property named after the rule (helm prints "missing property
    'replicaCount must be 1, 3, 5 or 7: ...'" beside "value must be one of 1, 3, 5, 7")."""
    parts = preset.replicas_field.split(".")
    node: dict[str, Any] = {"not": {"enum": list(topology.ALLOWED_COUNTS)}}
    for part in reversed(parts):
        node = {"properties": {part: node}, "required": [part]}
    return {"if": node, "then": {"required": [topology.count_rule(preset.replicas_field, preset.max_members_why)]}}


def single_type_message(chart_type: str, field: str) -> str:
    return (f"{field} must be 1: type {chart_type} runs exactly one instance "
            f"(type {chart_type.replace('-single', '-multi')} runs more)")


def single_type_rule(chart_type: str, field: str) -> dict[str, Any]:
    """The schema rule of a -single type: its instance count is 1. A count other than 1 makes
    the rule require a property named after the reason, so helm's one error line says why
    ("missing property 'replicaCount must be 1: type stateful-single runs exactly one ...'")
    next to the plain "value must be 1"."""
    parts = field.split(".")

    def nest(leaf: dict[str, Any], with_required: bool) -> dict[str, Any]:
        node: dict[str, Any] = leaf
        for part in reversed(parts):
            node = {"properties": {part: node}, **({"required": [part]} if with_required else {})}
        return node

    condition = nest({"not": {"const": 1}}, True)
    condition["properties"]["type"] = {"const": chart_type}
    condition["required"] = ["type", *condition["required"]]
    then = nest({"const": 1, "description": f"type {chart_type}: exactly 1"}, False)
    then["required"] = [single_type_message(chart_type, field)]
    return {"if": condition, "then": then}


def default_replicas(preset: Preset) -> int:
    values = yaml.safe_load(values_mod.dump(compose_values(preset)))
    node: Any = values
    for part in preset.replicas_field.split("."):
        node = node[part]
    return int(node)


def read_path(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
