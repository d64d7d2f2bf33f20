"""The one installer of the Debian packages any test or build step of this project needs.

PACKAGES names each package and the commands the harness runs from it. ``make host-deps``
(``python -m tests.infra.host``) installs what is missing with one apt-get call; a machine that
has them all costs one dpkg query. ``tests/unit/test_host_packages.py`` fails when harness code
runs a host command that no entry here provides, so a new tool cannot hide behind a machine
where somebody installed it by hand.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

PACKAGES: dict[str, tuple[str, ...]] = {
    "iproute2": ("ip",),                          # network namespaces, veth pairs, bridges
    "iptables": ("iptables",),                    # a bridge's FORWARD rule; cut-off pods' rules
    "util-linux": ("nsenter", "unshare"),         # entering a pod's network namespace on kind
    "mount": ("mount", "umount"),                 # container roots (overlayfs + bind mounts)
    "coreutils": ("chroot", "env", "timeout", "sleep"),
    "tar": ("tar",),
    "dpkg": ("dpkg-query", "update-alternatives"),
    "apt": ("apt-get",),
    "procps": ("pgrep",),
    "debootstrap": ("debootstrap",),              # image root file systems (Debian trixie)
    "docker.io": ("dockerd", "docker"),           # the project's own engine for kind
    "jq": ("jq",),                                # the engine's runtime wrapper
    "gcc": ("gcc",),                              # the pod sandbox (pause) binary
    "libc6-dev": (),
    "binutils": ("strip",),
    "openssl": ("openssl",),                      # the bare API server's certificates
    "shellcheck": ("shellcheck",),                # every chart script is linted
    "dash": ("dash",),                            # scripts parsed by the images' /bin/sh
    "docker-registry": ("docker-registry",),      # an OCI registry for `chartgen push`
    "git": ("git",),
}
# on the machine before the project (the brief's "This machine"), not installed here
MACHINE = ("go", "node", "npm", "python3", "make", "sh", "bash")


def commands() -> set[str]:
    return {c for cmds in PACKAGES.values() for c in cmds} | set(MACHINE)


def missing() -> list[str]:
    """Packages of PACKAGES that dpkg does not have installed."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\\n", *PACKAGES],
                         text=True, capture_output=True).stdout
    have = {line.split()[0] for line in out.splitlines() if line.endswith("install ok installed")}
    return [p for p in PACKAGES if p not in have]


def install() -> list[str]:
    need = missing()
    if need:
        if os.geteuid() != 0:
            raise SystemExit(f"missing Debian packages {' '.join(need)}: run `make host-deps` as root")
        print(f"apt-get install {' '.join(need)}", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *need],
                       check=True, env=env, stdout=subprocess.DEVNULL)
    absent = [c for c in commands() if c != "sh" and not shutil.which(c, path="/usr/sbin:/usr/bin:/sbin:/bin:"
                                                                        + os.environ.get("PATH", ""))]
    if absent:
        raise SystemExit(f"installed, but still missing commands: {' '.join(sorted(absent))}")
    return need


if __name__ == "__main__":
    install()
