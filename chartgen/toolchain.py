"""Locate the external tools chartgen drives (the real helm CLI)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import ToolNotFoundError
from .versions import pin


def cache_dir() -> Path:
    return Path(os.environ.get("CHARTGEN_CACHE", Path.home() / ".cache" / "chartgen"))


def helm_executable() -> str:
    """$CHARTGEN_HELM, else the pinned build in the cache, else `helm` on PATH."""
    explicit = os.environ.get("CHARTGEN_HELM")
    if explicit:
        return explicit
    built = cache_dir() / "bin" / f"helm-{pin('HELM_VERSION')}" / "helm"
    if built.is_file():
        return str(built)
    found = shutil.which("helm")
    if found:
        return found
    raise ToolNotFoundError(
        "helm: not found on PATH nor in the chartgen cache; run `make setup` "
        "(builds helm " + pin("HELM_VERSION") + " from its Go module) or set CHARTGEN_HELM"
    )
