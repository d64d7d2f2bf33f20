"""Where kindkube keeps things: build outputs under $CHARTGEN_CACHE (never in the repo),
the Docker engine's sockets and PID file under /run. Pins come from versions.env."""
from __future__ import annotations

from pathlib import Path

from localkube import config

version = config.version
REPO_ROOT = config.REPO_ROOT
HERE = Path(__file__).resolve().parent

# the project's Docker engine (kindkube.dockerd); never the system service
RUN_DIR = Path("/run/chartgen-docker")
SOCKET = RUN_DIR / "docker.sock"
PIDFILE = RUN_DIR / "docker.pid"
EXEC_ROOT = RUN_DIR / "exec"
LOCK = Path("/run/chartgen-docker.lock")
DOCKER_HOST = f"unix://{SOCKET}"


def cache() -> Path:
    return config.cache_dir() / "kindkube"


def docker_data_root() -> Path:
    return config.cache_dir() / "docker"


def bin_dir(tool: str, ver: str) -> Path:
    return config.bin_dir(tool, ver)


def build_dir(name: str) -> Path:
    d = cache() / "build" / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def artifacts() -> Path:
    d = cache() / "artifacts"
    d.mkdir(parents=True, exist_ok=True)
    return d
