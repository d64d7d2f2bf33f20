"""Pinned tool versions, read from the one file that pins them (versions.env)."""

from __future__ import annotations

import functools
from pathlib import Path

_CANDIDATES = (
    Path(__file__).resolve().parent.parent / "versions.env",  # source checkout
    Path(__file__).resolve().parent / "_data" / "versions.env",  # installed wheel
)


@functools.cache
def pins() -> dict[str, str]:
    for path in _CANDIDATES:
        if path.is_file():
            return parse_env(path.read_text())
    raise FileNotFoundError("versions.env not found next to the chartgen package")


def parse_env(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip().strip('"')
    return out


def pin(key: str) -> str:
    return pins()[key]


def kubernetes_minor() -> str:
    """'v1.34.4' -> '1.34' (the schema set used for offline validation)."""
    major, minor, *_ = pin("KUBERNETES_VERSION").lstrip("v").split(".")
    return f"{major}.{minor}"
