"""The one installer (tests/infra/host.py) holds every host command the harness runs: a command
called by a test, a fixture or a build step that no package of the installer provides (and that
is neither built on the shelf nor on the machine before the project) fails here, not on a fresh
machine in CI."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.infra import host, shelf

ROOT = Path(__file__).resolve().parents[2]
# every Python file that runs commands on this machine
HARNESS = sorted(p for p in (ROOT / "tests").rglob("*.py") if "__pycache__" not in p.parts)
CALL = re.compile(r"(?:subprocess\.(?:run|Popen|check_output|check_call|call)|\b_run|\bsh|\b_sh|\b_openssl)"
                  r"\(\s*\[\s*\"([^\"]+)\"")
WHICH = re.compile(r"shutil\.which\(\s*\"([^\"]+)\"")
HELPERS = {"_ip(": "ip", "_mount(": "mount", "_iptables(": "iptables", "_openssl(": "openssl"}


def called() -> dict[str, set[str]]:
    """command name -> the files that run it on this machine."""
    found: dict[str, set[str]] = {}
    for path in HARNESS:
        text = path.read_text()
        names = {m.group(1) for m in CALL.finditer(text)} | {m.group(1) for m in WHICH.finditer(text)}
        names |= {cmd for helper, cmd in HELPERS.items() if f"def {helper}" in text}
        for name in names:
            found.setdefault(Path(name).name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_the_scan_sees_the_harness():
    """The scan is not empty: it finds the commands the harness is known to run."""
    seen = called()
    for cmd in ("ip", "mount", "debootstrap", "chroot", "nsenter", "openssl", "go", "gcc"):
        assert cmd in seen, f"the scan misses {cmd}"


def test_every_command_the_harness_runs_is_installed_or_built():
    provided = host.commands() | set(shelf.PROVIDER) | {"pause"}
    missing = {cmd: sorted(files) for cmd, files in called().items() if cmd not in provided}
    assert not missing, ("commands no package of tests/infra/host.py provides (add the package there): "
                         f"{missing}")


@pytest.mark.parametrize("package", sorted(p for p, cmds in host.PACKAGES.items() if cmds))
def test_each_package_provides_the_commands_listed_for_it(package):
    listed = subprocess.run(["dpkg-query", "-L", package], capture_output=True, text=True)
    assert listed.returncode == 0, f"{package} is not installed: run `make host-deps`"
    paths = {p for p in listed.stdout.split() if re.search(r"/s?bin/[^/]+$", p)}
    for cmd in host.PACKAGES[package]:
        # a name the package provides through the alternatives system (iptables -> iptables-nft)
        choices = subprocess.run(["update-alternatives", "--list", cmd], capture_output=True, text=True).stdout.split()
        assert cmd in {Path(p).name for p in paths} or set(choices) & paths, \
            f"{package} does not provide {cmd} (dpkg -L {package})"
