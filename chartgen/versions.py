"""Pinned tool and image versions, read from the one file that pins them (versions.env).

One rule everywhere: the file is the only source (no environment override). A value may
refer to a key defined above it as ``${KEY}``, which make, sh and this reader all expand.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

_CANDIDATES = (
    Path(__file__).resolve().parent.parent / "versions.env",  # source checkout
    Path(__file__).resolve().parent / "_data" / "versions.env",  # installed wheel
)
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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

        def expand(m: re.Match) -> str:
            if m.group(1) not in out:
                raise KeyError(f"versions.env: {key.strip()} refers to ${{{m.group(1)}}} before it is defined")
            return out[m.group(1)]

        out[key.strip()] = _REF.sub(expand, value.strip().strip('"'))
    return out


def pin(key: str) -> str:
    try:
        return pins()[key]
    except KeyError:
        raise KeyError(f"{key} is not pinned in versions.env") from None


def kubernetes_minor() -> str:
    """'v1.34.4' -> '1.34' (the schema set used for offline validation)."""
    major, minor, *_ = pin("KUBERNETES_VERSION").lstrip("v").split(".")
    return f"{major}.{minor}"


@dataclass(frozen=True)
class ImageRef:
    """registry/repository:tag[@digest], split the way the charts' image blocks hold it."""

    registry: str
    repository: str
    tag: str
    digest: str = ""

    @classmethod
    def parse(cls, ref: str) -> "ImageRef":
        ref, _, digest = ref.partition("@")
        slash = ref.rfind("/")
        colon = ref.rfind(":")
        name, tag = (ref[:colon], ref[colon + 1:]) if colon > slash else (ref, "latest")
        first, _, rest = name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            return cls(first, rest, tag, digest)
        return cls("docker.io", name if rest else f"library/{name}", tag, digest)

    def __str__(self) -> str:
        ref = f"{self.registry}/{self.repository}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref

    def values(self) -> dict[str, str]:
        return {"registry": self.registry, "repository": self.repository, "tag": self.tag, "digest": self.digest}


def image(key: str) -> ImageRef:
    """The image pinned under KEY (e.g. ETCD_IMAGE)."""
    return ImageRef.parse(pin(key))
