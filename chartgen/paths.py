"""Output locations, checked before anything is written: one line naming the flag and the fix."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .errors import OutputLocationError


def writable_dir(path: Path, flag: str) -> Path:
    """PATH as a directory chartgen may write into (created when missing)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputLocationError(f"{flag} {path}: exists and is not a directory; pass a directory")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputLocationError(f"{flag} {path}: {parent} is not a directory; pass a path under a directory")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".chartgen-write-test-"):
            pass
    except OSError as err:
        raise OutputLocationError(f"{flag} {path}: cannot write there ({err.strerror}); pass a writable directory") from None
    return path


def replaceable_chart_dir(path: Path, flag: str, force: bool) -> None:
    """An existing output PATH may only be replaced (--force) when it is a chart directory or
    empty: --force never swaps out a file, a device or someone's folder."""
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir() or path.is_symlink():
        raise OutputLocationError(f"{flag} {path}: exists and is not a directory; choose another path")
    if not force:
        raise OutputLocationError(f"{flag} {path}: already exists; pass --force to replace it or choose another directory")
    if not (path / "Chart.yaml").is_file() and any(path.iterdir()):
        raise OutputLocationError(
            f"{flag} {path}: holds no chart (no Chart.yaml) and is not empty; --force replaces only a chart "
            "directory, choose another path")
