"""Build the cluster's binaries from Go modules (and the pause binary with gcc).

Every output lands in ``$CACHE/bin/<tool>-<version>/``; a tool whose binaries are
all there is skipped, so a second run costs nothing. Wrapper modules are written
under ``$CACHE/localkube/build/`` (outside the repo) and generated from the pinned
versions, so bumping a pin in versions.env is the only change a bump needs.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import config

K8S_COMMANDS = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubeadm",
                "kubelet", "kube-proxy", "kubectl"]


def log(msg: str) -> None:
    print(f"[localkube] {msg}", file=sys.stderr, flush=True)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def _run(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env or _go_env(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def _complete(out: Path, names: list[str]) -> bool:
    return all(os.access(out / n, os.X_OK) for n in names)


def _module_gomod(module: str, ver: str) -> str:
    """The go.mod text of module@ver, fetched through the module proxy."""
    raw = _run(["go", "mod", "download", "-json", f"{module}@{ver}"], cwd=Path("/"))
    info = json.loads(raw)
    return Path(info["GoMod"]).read_text()


def _staging_modules(kubernetes_gomod: str) -> list[str]:
    """k8s.io/* modules that k8s.io/kubernetes replaces with ./staging/src/... dirs."""
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/",
                                 kubernetes_gomod, re.M)))


def _stale(work: Path, text: str) -> bool:
    want = work / ".gomod.want"
    return not (work / "go.sum").exists() or not want.exists() or want.read_text() != text


def _install(tmp: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def build_kubernetes(force: bool = False) -> Path:
    ver = config.version("KUBERNETES_VERSION")
    out = config.bin_dir("kubernetes", ver)
    if not force and _complete(out, K8S_COMMANDS):
        return out
    staging_ver = "v0." + ver.split(".", 1)[1]          # v1.34.4 -> v0.34.4
    gomod = _module_gomod("k8s.io/kubernetes", ver)
    staging = _staging_modules(gomod)
    if not staging:
        raise RuntimeError("found no staging replace lines in k8s.io/kubernetes go.mod")
    go_line = re.search(r"^go (\S+)", gomod, re.M).group(1)
    work = config.cache_dir() / "localkube" / "build" / f"kubernetes-{ver}"
    work.mkdir(parents=True, exist_ok=True)
    lines = ["module chartgen.local/localkube-kubernetes", "", f"go {go_line}", "",
             f"require k8s.io/kubernetes {ver}", ""]
    lines += [f"tool k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS] + [""]
    lines.append("replace (")
    lines += [f"\t{m} => {m} {staging_ver}" for m in staging]
    lines += [")", ""]
    text = "\n".join(lines)
    if _stale(work, text):
        (work / "go.mod").write_text(text)
        (work / "go.sum").unlink(missing_ok=True)
        log(f"resolving k8s.io/kubernetes {ver} with {len(staging)} staging modules at {staging_ver}")
        _run(["go", "mod", "tidy"], cwd=work)
        (work / ".gomod.want").write_text(text)
    major, minor = ver.lstrip("v").split(".")[:2]
    xs = {"gitVersion": ver, "gitMajor": major, "gitMinor": minor,
          "gitTreeState": "clean", "gitCommit": "", "buildDate": "1970-01-01T00:00:00Z"}
    ldflags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        ldflags += [f"-X {pkg}.{k}={v}" for k, v in xs.items() if v]
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log(f"building {', '.join(K8S_COMMANDS)} {ver} (cold: tens of minutes on 2 cores)")
    t0 = time.monotonic()
    _run(["go", "build", "-trimpath", "-ldflags", " ".join(ldflags), "-o", str(tmp) + "/"]
         + [f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS], cwd=work)
    log(f"kubernetes built in {time.monotonic() - t0:.0f}s")
    _install(tmp, out)
    return out


def build_coredns(force: bool = False) -> Path:
    ver = config.version("COREDNS_VERSION")
    out = config.bin_dir("coredns", ver)
    if not force and _complete(out, ["coredns"]):
        return out
    work = config.cache_dir() / "localkube" / "build" / f"coredns-{ver}"
    work.mkdir(parents=True, exist_ok=True)
    gomod = _module_gomod("github.com/coredns/coredns", ver)
    go_line = re.search(r"^go (\S+)", gomod, re.M).group(1)
    text = (f"module chartgen.local/localkube-coredns\n\ngo {go_line}\n\n"
            f"require github.com/coredns/coredns {ver}\n\ntool github.com/coredns/coredns\n")
    if _stale(work, text):
        (work / "go.mod").write_text(text)
        (work / "go.sum").unlink(missing_ok=True)
        log(f"resolving github.com/coredns/coredns {ver}")
        _run(["go", "mod", "tidy"], cwd=work)
        (work / ".gomod.want").write_text(text)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log(f"building coredns {ver}")
    t0 = time.monotonic()
    _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(tmp / "coredns"),
          "github.com/coredns/coredns"], cwd=work)
    log(f"coredns built in {time.monotonic() - t0:.0f}s")
    _install(tmp, out)
    return out


def build_crictl(force: bool = False) -> Path:
    """crictl (CRI client), used by `down` to remove pods through the CRI."""
    ver = config.version("CRICTL_VERSION")
    out = config.bin_dir("crictl", ver)
    if not force and _complete(out, ["crictl"]):
        return out
    work = config.cache_dir() / "localkube" / "build" / f"crictl-{ver}"
    work.mkdir(parents=True, exist_ok=True)
    gomod = _module_gomod("sigs.k8s.io/cri-tools", ver)
    go_line = re.search(r"^go (\S+)", gomod, re.M).group(1)
    text = (f"module chartgen.local/localkube-crictl\n\ngo {go_line}\n\n"
            f"require sigs.k8s.io/cri-tools {ver}\n\ntool sigs.k8s.io/cri-tools/cmd/crictl\n")
    if _stale(work, text):
        (work / "go.mod").write_text(text)
        (work / "go.sum").unlink(missing_ok=True)
        _run(["go", "mod", "tidy"], cwd=work)
        (work / ".gomod.want").write_text(text)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    log(f"building crictl {ver}")
    _run(["go", "build", "-trimpath", "-ldflags",
          f"-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version={ver}",
          "-o", str(tmp / "crictl"), "sigs.k8s.io/cri-tools/cmd/crictl"], cwd=work)
    _install(tmp, out)
    return out


def crictl_path() -> Path | None:
    p = config.bin_dir("crictl", config.version("CRICTL_VERSION")) / "crictl"
    return p if os.access(p, os.X_OK) else None


def build_etcd() -> Path:
    """The project's own etcd build (tools/build-etcd.sh), last stdout line = dir."""
    script = config.REPO_ROOT / "tools" / "build-etcd.sh"
    if not script.exists():
        raise RuntimeError(f"{script} is missing; localkube needs it to build etcd")
    proc = subprocess.run(["sh", str(script)], text=True, stdout=subprocess.PIPE,
                          env=_go_env())
    if proc.returncode != 0:
        raise RuntimeError(f"{script} failed with exit code {proc.returncode}")
    return Path(proc.stdout.strip().splitlines()[-1])


PAUSE_C = r"""
/* Minimal pod sandbox process: sleep until told to stop, reap children. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(void) {
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    signal(SIGCHLD, reap);
    for (;;) pause();
    return 0;
}
"""
PAUSE_VERSION = "lk1"   # bump when PAUSE_C changes


def build_pause(force: bool = False) -> Path:
    out = config.bin_dir("pause", PAUSE_VERSION)
    if not force and _complete(out, ["pause"]):
        return out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "pause.c").write_text(PAUSE_C)
    _run(["gcc", "-Os", "-static", "-o", str(tmp / "pause"), str(tmp / "pause.c")],
         env=dict(os.environ))
    _run(["strip", str(tmp / "pause")], env=dict(os.environ))
    (tmp / "pause.c").unlink()
    _install(tmp, out)
    return out


def build_all(force: bool = False) -> dict[str, Path]:
    """Build (or find cached) every binary the cluster needs."""
    t0 = time.monotonic()
    dirs = {
        "pause": build_pause(force),
        "etcd": build_etcd(),
        "coredns": build_coredns(force),
        "crictl": build_crictl(force),
        "kubernetes": build_kubernetes(force),
    }
    log(f"all binaries ready in {time.monotonic() - t0:.0f}s")
    return dirs


def binaries() -> dict[str, Path]:
    """Paths of the cached binaries, without building (raises if missing)."""
    k8s = config.bin_dir("kubernetes", config.version("KUBERNETES_VERSION"))
    paths = {c: k8s / c for c in K8S_COMMANDS}
    paths["coredns"] = config.bin_dir("coredns", config.version("COREDNS_VERSION")) / "coredns"
    etcd = config.bin_dir("etcd", config.version("ETCD_VERSION"))
    paths.update({n: etcd / n for n in ("etcd", "etcdctl", "etcdutl")})
    paths["crictl"] = config.bin_dir("crictl", config.version("CRICTL_VERSION")) / "crictl"
    paths["pause"] = config.bin_dir("pause", PAUSE_VERSION) / "pause"
    missing = [n for n, p in paths.items() if not os.access(p, os.X_OK)]
    if missing:
        raise RuntimeError(f"missing binaries {missing}: run `python -m localkube build`")
    return paths
