"""The JavaScript the mongodb preset ships runs in the tests under the real mongosh and with the
real bson package: tests/js/package.json pins both (mongosh: the version the pinned mongo image
ships; bson: the 6.x line), tests/js/package-lock.json pins the tree. `make js-deps` installs
them (npm ci, npm's cache in $CHARTGEN_CACHE; quick when already installed); the fixtures call
it, and fail with what to do when it cannot run."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JS = ROOT / "tests" / "js"
NODE_MODULES = JS / "node_modules"
MONGOSH = NODE_MODULES / ".bin" / "mongosh"


@functools.cache
def _install() -> str:
    """'' once `make js-deps` succeeded, else why not."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node and npm are missing (Debian: apt-get install nodejs npm)"
    make = shutil.which("make")
    if not make:
        return "make is missing"
    proc = subprocess.run([make, "-s", "js-deps"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        return f"`make js-deps` failed: {(proc.stderr or proc.stdout).strip()[-2000:]}"
    return ""


def node_modules() -> Path:
    """tests/js/node_modules, installed (or the test fails and says how to install it)."""
    why = _install()
    if why:
        pytest.fail(f"the pinned mongosh and bson (tests/js) are not installed: {why}; run `make js-deps`",
                    pytrace=False)
    return NODE_MODULES


def pinned(name: str) -> str:
    """The version tests/js/package.json pins NAME to."""
    return json.loads((JS / "package.json").read_text())["dependencies"][name]
