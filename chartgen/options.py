"""Generation options that become chart values: --type, --image, --port, --storage, --env.

Each is checked here with a one-line error that names the flag and the fix, and turned into
the values a user could have set with --set (the same keys, so `--set type=...`,
`--set image.repository=...` and a --values file work as well).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidValueError
from .presets import TYPES, Preset, is_single
from .versions import ImageRef

# the Docker reference grammar, simplified: [domain[:port]/]path[:tag][@sha256:digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]+)?"
_IMAGE = re.compile(rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@sha256:[a-f0-9]{{64}})?$")
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
TYPE_LIST = "stateful-single, stateful-multi, stateless-single or stateless-multi"


# -- the type ------------------------------------------------------------------------------
def check_type(spec: Preset, chart_type: str, flag: str = "--type") -> str:
    """CHART_TYPE if PRESET offers it; else the one line that says why not and what to use."""
    if chart_type not in TYPES:
        raise InvalidValueError(f"{flag} {chart_type!r}: not a deployment type; choose {TYPE_LIST}")
    if chart_type in spec.types:
        return chart_type
    offered = " or ".join(spec.types)
    if chart_type.startswith("stateless-") and not spec.stateless_allowed:
        raise InvalidValueError(
            f"{flag} {chart_type}: preset {spec.name} keeps its own data per instance, so it must be "
            f"stateful; use {offered} ({spec.default_type} is its default)")
    raise InvalidValueError(f"{flag} {chart_type}: preset {spec.name} offers {offered}; choose one of them")


def _type_in_sets(sets: list[str]) -> str | None:
    found = None
    for expr in sets:
        key, sep, raw = expr.partition("=")
        if sep and key.strip() == "type":
            found = str(yaml.safe_load(raw) if raw else "")
    return found


def _type_in_files(files: list[Path]) -> str | None:
    found = None
    for path in files:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError):
            continue  # the values step reports unreadable files with their own line
        if isinstance(data, dict) and "type" in data:
            found = str(data["type"])
    return found


def chart_type(spec: Preset, given: str | None, sets: list[str], files: list[Path],
               values: dict[str, Any]) -> str:
    """The type a chart is generated with: --type, else `type` from --set, --values or the
    Python API's values, else the preset's default. Two different answers are refused."""
    from_values = values.get("type") if isinstance(values.get("type"), str) else None
    from_set = _type_in_sets(sets) or from_values or _type_in_files(files)
    if given is not None and from_set is not None and from_set != given:
        raise InvalidValueError(f"--type {given} and type={from_set} (from --set or --values) disagree; pass one of them")
    chosen = given if given is not None else from_set
    if chosen is None:
        return spec.default_type
    return check_type(spec, chosen, "--type" if given is not None else "type=")


def check_replicas(spec: Preset, chosen: str, replicas: int | None) -> None:
    if replicas is not None and is_single(chosen) and replicas != 1:
        raise InvalidValueError(
            f"--replicas {replicas}: type {chosen} runs exactly one instance; leave --replicas out, "
            f"or use --type {chosen.replace('-single', '-multi')}")


# -- values the flags set --------------------------------------------------------------------
def image_values(text: str) -> dict[str, Any]:
    if not _IMAGE.match(text or ""):
        raise InvalidValueError(
            f"--image {text!r}: not an image reference; use [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST], "
            "e.g. ghcr.io/acme/app:1.4.2")
    ref = ImageRef.parse(text)
    return {"image.registry": ref.registry, "image.repository": ref.repository, "image.tag": ref.tag,
            "image.digest": ref.digest}


def port_list(items: list[str]) -> list[dict[str, Any]]:
    """--port [NAME=]NUMBER, repeated: the container's ports, the first one probed."""
    out: list[dict[str, Any]] = []
    for text in items:
        name, sep, number = text.rpartition("=")
        if not number.isdigit() or not 1 <= int(number) <= 65535:
            raise InvalidValueError(
                f"--port {text!r}: expected [NAME=]NUMBER with NUMBER 1-65535, e.g. --port 8080 or --port http=8080")
        port = int(number)
        name = name if sep else f"port-{port}"
        if len(name) > 15 or not _PORT_NAME.match(name) or not re.search("[a-z]", name) or "--" in name:
            raise InvalidValueError(
                f"--port {text!r}: port name {name!r} must be at most 15 lower-case letters, digits and '-' "
                "with at least one letter (e.g. http)")
        for seen in out:
            if seen["port"] == port or seen["name"] == name:
                raise InvalidValueError(f"--port {text!r}: port {port} or name {name!r} is given twice; give each port once")
        out.append({"name": name, "port": port, "protocol": "TCP"})
    return out


def env_map(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in items:
        name, sep, value = text.partition("=")
        if not sep:
            raise InvalidValueError(f"--env {text!r}: expected NAME=VALUE, e.g. --env LOG_LEVEL=debug")
        if not _ENV_NAME.match(name):
            raise InvalidValueError(
                f"--env {text!r}: NAME {name!r} must start with a letter, '_', '-' or '.' and hold only "
                "letters, digits, '_', '-' and '.'")
        out[name] = value
    return out


def _has(schema: dict[str, Any], dotted: str) -> bool:
    node = schema
    for part in dotted.split("."):
        node = (node.get("properties") or {}).get(part)
        if node is None:
            return False
    return True


def as_values(spec: Preset, schema: dict[str, Any], chosen: str, *, image: str | None = None,
              ports: list[str] | None = None, storage: str | None = None,
              env: list[str] | None = None) -> dict[str, Any]:
    """The values (dotted paths) that --image, --port, --storage and --env stand for."""
    out: dict[str, Any] = {}
    if image is not None:
        if not _has(schema, "image.repository"):
            raise InvalidValueError(f"--image: preset {spec.name} has no `image` value; leave --image out")
        out.update(image_values(image))
    if ports:
        if not spec.main.ports_from:
            raise InvalidValueError(
                f"--port: preset {spec.name} declares its own ports; change their numbers with --set "
                "(see its values.yaml)")
        out[spec.main.ports_from] = port_list(ports)
    if storage is not None:
        if not _QUANTITY.match(storage):
            raise InvalidValueError(f"--storage {storage!r}: not a Kubernetes quantity; use e.g. 10Gi or 500Mi")
        block = spec.main.persistence
        out[f"{block}.size"] = storage
        if _has(schema, f"{block}.enabled"):
            out[f"{block}.enabled"] = True
    if env:
        if not _has(schema, "env"):
            raise InvalidValueError(
                f"--env: preset {spec.name} takes no free-form environment (its scripts set what the engine "
                "needs); leave --env out")
        out["env"] = env_map(env)
    return out
