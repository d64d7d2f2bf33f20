"""Paths, pinned versions and fixed network layout of localkube."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VERSIONS_FILE = REPO_ROOT / "versions.env"


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """The pins of versions.env, read by chartgen's one reader (no environment override)."""
    from chartgen.versions import parse_env

    return parse_env(path.read_text())


def version(key: str) -> str:
    versions = read_versions()
    if key not in versions:
        raise KeyError(f"{key} is not pinned in {VERSIONS_FILE}")
    return versions[key]


def cache_dir() -> Path:
    return Path(os.environ.get("CHARTGEN_CACHE") or Path.home() / ".cache" / "chartgen")


def bin_dir(tool: str, ver: str) -> Path:
    return cache_dir() / "bin" / f"{tool}-{ver}"


def default_state_dir() -> Path:
    return Path(os.environ.get("LOCALKUBE_STATE") or cache_dir() / "localkube" / "state")


@dataclass(frozen=True)
class Network:
    """Fixed addresses. Everything is local to this machine: the bridge has no
    default route out, and the node IP lives on the bridge itself."""

    bridge: str = "lkbr0"
    pod_cidr: str = "10.77.0.0/16"
    pod_range: str = "10.77.0.0/24"
    node_ip: str = "10.77.0.1"
    prefix: int = 16
    service_cidr: str = "10.78.0.0/16"
    apiserver_service_ip: str = "10.78.0.1"
    dns_service_ip: str = "10.78.0.10"
    cluster_domain: str = "cluster.local"
    apiserver_port: int = 6443
    etcd_client_port: int = 2479
    etcd_peer_port: int = 2480


NET = Network()
NODE_NAME = "localkube"
