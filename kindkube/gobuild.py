"""Static Go binaries from their modules at the versions pinned in versions.env.

Each lands in $CHARTGEN_CACHE/bin/<tool>-<version>/ and is built only when missing (so a pin
bump is the only change a version bump needs). kind itself comes from tools/build-kind.sh.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from localkube.build import log

from . import paths

# tool -> (package to `go install`, versions.env key, extra -ldflags)
TOOLS = {
    # the CNI: pod network (bridge + host-local per node, routes between nodes) and
    # NetworkPolicy enforcement with iptables + ipset; its service proxy stays off
    "kube-router": ("github.com/cloudnativelabs/kube-router/v2/cmd/kube-router", "KUBE_ROUTER_VERSION",
                    "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version={ver}"),
    # kind's default StorageClass provisioner (rancher.io/local-path)
    "local-path-provisioner": ("github.com/rancher/local-path-provisioner", "LOCAL_PATH_PROVISIONER_VERSION",
                               "-X main.VERSION={ver}"),
}


def binary(tool: str) -> Path:
    """Path of TOOL's binary, built from its Go module when missing."""
    pkg, key, xflags = TOOLS[tool]
    ver = paths.version(key)
    out = paths.bin_dir(tool, ver)
    exe = out / pkg.rsplit("/", 1)[-1]
    if os.access(exe, os.X_OK):
        return exe
    log(f"building {tool} {ver} from its Go module")
    t0 = time.monotonic()
    env = {**os.environ, "GOBIN": str(out), "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
    proc = subprocess.run(["nice", "-n", "10", "go", "install", "-trimpath",
                           "-ldflags", f"-s -w {xflags.format(ver=ver)}", f"{pkg}@{ver}"],
                          cwd="/", env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"go install {pkg}@{ver} failed:\n{proc.stdout[-3000:]}")
    log(f"{tool} built in {time.monotonic() - t0:.0f}s")
    return exe


def kind() -> Path:
    """The kind CLI at $KIND_VERSION (tools/build-kind.sh)."""
    proc = subprocess.run(["sh", str(paths.REPO_ROOT / "tools/build-kind.sh")], text=True,
                          stdout=subprocess.PIPE, check=True)
    return Path(proc.stdout.split()[-1]) / "kind"
