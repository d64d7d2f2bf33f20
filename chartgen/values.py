"""Install-time defaults: the preset's commented values.yaml plus the user's overrides.

Overrides come from ``--replicas``, ``--values FILE`` and ``--set key=value``; they become
the chart's defaults in values.yaml (comments kept, via ruamel.yaml round-trip).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from .errors import InvalidValueError, ValuesFileError
from .topology import odd_count_problem


def _yaml() -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    return y


def load_defaults(path: Path) -> CommentedMap:
    return _yaml().load(path.read_text())


def dump(values: CommentedMap) -> str:
    buf = io.StringIO()
    _yaml().dump(values, buf)
    return buf.getvalue()


def parse_set(expr: str) -> tuple[list[str], Any]:
    """``a.b=3`` -> (['a', 'b'], 3). Values are read as YAML scalars (3, true, 'x')."""
    key, sep, raw = expr.partition("=")
    if not sep or not key.strip():
        raise InvalidValueError(f"--set {expr!r}: expected key=value, e.g. --set persistence.size=20Gi")
    parts = key.strip().split(".")
    if any(not p for p in parts):
        raise InvalidValueError(f"--set {expr!r}: empty segment in key {key!r}; use dotted keys like a.b.c")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return parts, value


def load_values_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ValuesFileError(f"--values {path}: file not found; pass an existing YAML file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ValuesFileError(f"--values {path}: not valid YAML{where}; fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValuesFileError(f"--values {path}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _schema_child(schema: dict[str, Any], key: str) -> dict[str, Any] | None:
    """Schema of ``key`` inside an object schema; None when the key is not allowed."""
    props = schema.get("properties", {})
    if key in props:
        return props[key]
    extra = schema.get("additionalProperties", True)
    if extra is False:
        return None
    return extra if isinstance(extra, dict) else {}


def check_known(parts: list[str], schema: dict[str, Any], origin: str) -> None:
    node = schema
    for depth, key in enumerate(parts):
        child = _schema_child(node, key)
        if child is None:
            where = ".".join(parts[:depth]) or "the top level"
            known = ", ".join(sorted(node.get("properties", {}))) or "(none)"
            raise InvalidValueError(
                f"{origin} {'.'.join(parts)}: unknown key {key!r} under {where}; known keys: {known}"
            )
        node = child


def _leaf_paths(data: dict[str, Any], prefix: list[str] | None = None):
    for key, value in data.items():
        path = (prefix or []) + [str(key)]
        if isinstance(value, dict) and value:
            yield from _leaf_paths(value, path)
        else:
            yield path


def set_path(values: CommentedMap, parts: list[str], value: Any) -> None:
    node = values
    for key in parts[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = CommentedMap()
        node = node[key]
    node[parts[-1]] = value


def merge(values: CommentedMap, overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict) and value:
            merge(values[key], value)
        else:
            values[key] = value


def apply_overrides(
    defaults: CommentedMap,
    schema: dict[str, Any],
    *,
    values_files: list[Path] = (),
    sets: list[str] = (),
    direct: dict[str, Any] | None = None,
) -> CommentedMap:
    """Merge files, then --set, then direct values (e.g. --replicas) into the defaults."""
    for path in values_files:
        data = load_values_file(Path(path))
        for leaf in _leaf_paths(data):
            check_known(leaf, schema, f"--values {path}:")
        merge(defaults, data)
    for expr in sets:
        parts, value = parse_set(expr)
        check_known(parts, schema, "--set")
        set_path(defaults, parts, value)
    for key, value in (direct or {}).items():
        parts = key.split(".")
        check_known(parts, schema, "value")
        set_path(defaults, parts, value)
    return defaults


def _reasons(errors) -> list[str]:
    """Reasons a rule gives as the name of a property it requires (library.single_type_rule,
    library.count_rule_schema, a preset's allOf), however deep under allOf/if/then they failed."""
    out = []
    for e in errors:
        head = str(e.message).rsplit(" is a required property", 1)[0]
        if e.validator == "required" and " " in head:
            out.append(head.strip("'\""))
        out.extend(_reasons(e.context or []))
    return out


def validate(values: dict[str, Any], schema: dict[str, Any], replicas_field: str, quorum: bool,
             max_why: str = "") -> None:
    """Refuse values the chart would refuse at install time, with a one-line reason."""
    plain = yaml.safe_load(dump(values)) if isinstance(values, CommentedMap) else values
    replicas: Any = plain
    for part in replicas_field.split("."):
        replicas = replicas.get(part) if isinstance(replicas, dict) else None
    chart_type = plain.get("type")
    if (isinstance(chart_type, str) and chart_type.endswith("-single") and isinstance(replicas, int)
            and replicas != 1 and chart_type in ((schema.get("properties") or {}).get("type") or {}).get("enum", ())):
        raise InvalidValueError(
            f"{replicas_field}={replicas}: type {chart_type} runs exactly one instance; set {replicas_field}=1, "
            f"or type={chart_type.replace('-single', '-multi')} for {replicas}")
    if quorum and isinstance(replicas, int):
        problem = odd_count_problem(replicas_field, replicas, max_why)
        if problem:
            raise InvalidValueError(problem)
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(plain), key=lambda e: list(e.absolute_path))
    if errors:
        # a rule whose reason is the name of a property it requires (library.single_type_rule,
        # a preset's allOf) says that reason, not "... is a required property"
        reasons = _reasons(errors)
        if reasons:
            raise InvalidValueError(f"{reasons[0]}; see values.schema.json")
        err = errors[0]
        field = ".".join(str(p) for p in err.absolute_path) or "values"
        raise InvalidValueError(f"{field}: {err.message}; see values.schema.json for allowed values")
