"""The preset library's fragments merged into a preset's own, at generation time.

- values: the library's commented `values.yaml` blocks (pod settings, persistence, probes,
  network policy, ...) and the preset's own `values.yaml`. The preset's keys come first, in
  its order; a block both define is merged key by key, the preset's values winning; the
  library's remaining blocks follow in the library's order. Image blocks are filled from
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
from ruamel.yaml.comments import CommentedMap

from . import values as values_mod
from .presets import Flavor, Preset, library_dir
from .versions import image as pinned_image


# -- values ---------------------------------------------------------------------------------
def _merge_commented(base: CommentedMap, over: CommentedMap) -> None:
    """Merge OVER into BASE in place: nested maps key by key, everything else replaced."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge_commented(base[key], value)
        else:
            base[key] = value


def compose_values(preset: Preset, flavor: Flavor | None = None, chart_type: str | None = None) -> CommentedMap:
    """The chart's default values.yaml (comments kept): preset first, then the library; the
    flavor's values, then the defaults of the deployment type (preset.yaml: typeValues,
    singleValues), laid over them."""
    own = values_mod.load_defaults(preset.path / "values.yaml")
    shared = values_mod.load_defaults(library_dir() / "values.yaml")
    for key, value in shared.items():
        if key not in own:
            own[key] = value
            _copy_comment(shared, own, key)
        elif isinstance(value, dict) and isinstance(own[key], dict):
            merged = copy.deepcopy(value)
            _merge_commented(merged, own[key])
            own[key] = merged
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
    return own


def _copy_comment(src: CommentedMap, dst: CommentedMap, key: str) -> None:
    """Carry the comment lines above KEY in SRC over to DST (ruamel keeps them per key)."""
    keys = list(src)
    index = keys.index(key)
    # ruamel stores a comment block before key K on the *previous* key's trailing slot
    if index == 0:
        pre = src.ca.comment
        if pre and pre[1]:
            dst.yaml_set_comment_before_after_key(key, before="\n".join(
                c.value.strip().lstrip("#").strip() for c in pre[1] if c is not None))
        return
    prev = keys[index - 1]
    token = src.ca.items.get(prev)
    if token and len(token) > 2 and token[2] is not None:
        dst_keys = list(dst)
        dst_prev = dst_keys[dst_keys.index(key) - 1]
        dst.ca.items[dst_prev] = copy.copy(token)


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
    if "type" in properties:
        properties["type"]["enum"] = list(preset.types)
        rules = [single_type_rule(t, preset.replicas_field) for t in preset.types if t.endswith("-single")]
        if rules:
            schema["allOf"] = schema.get("allOf", []) + rules
    return schema


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
