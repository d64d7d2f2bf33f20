"""One table of the pinned tools the project builds: from their Go modules (versions.env pins
each), checkov from PyPI, the pod sandbox binary with gcc. Every build lands in
``$CHARTGEN_CACHE/bin/<tool>-<version>/`` and is skipped when its binaries are there, so a pin
bump in versions.env is the whole of a version bump.

    python -m tests.infra.shelf helm etcd      # build what is missing; print each bin directory
    from tests.infra import shelf; shelf.path("kubectl")
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from chartgen.versions import pin

K8S_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubeadm", "kubelet",
                "kube-proxy", "kubectl")


@dataclass(frozen=True)
class Tool:
    pin: str                          # its versions.env key
    module: str                       # Go module (or PyPI project for kind="pip")
    packages: dict[str, str]          # binary -> Go package
    kind: str = "install"             # install: go install pkg@ver | wrapper: a module that requires it | pip
    ldflags: str = ""                 # -X stamps, {ver} replaced
    # wrapper modules: modules that are required at the same version beside MODULE
    also: tuple[str, ...] = ()
    replace_staging: bool = False     # k8s.io/kubernetes: pin its ./staging modules to v0.x
    binaries: tuple[str, ...] = field(default=())

    def names(self) -> tuple[str, ...]:
        return self.binaries or tuple(self.packages)


TOOLS: dict[str, Tool] = {
    # the Helm CLI chartgen drives (stamped with its full version, as helm's Makefile does)
    "helm": Tool("HELM_VERSION", "helm.sh/helm/v4", {"helm": "helm.sh/helm/v4/cmd/helm"},
                 ldflags="-X helm.sh/helm/v4/internal/version.version={ver}"),
    # etcd's go.mod files carry replace lines, which `go install mod@ver` refuses: a wrapper
    "etcd": Tool("ETCD_VERSION", "go.etcd.io/etcd/server/v3",
                 {"etcd": "go.etcd.io/etcd/server/v3", "etcdctl": "go.etcd.io/etcd/etcdctl/v3",
                  "etcdutl": "go.etcd.io/etcd/etcdutl/v3"},
                 kind="wrapper", also=("go.etcd.io/etcd/etcdctl/v3", "go.etcd.io/etcd/etcdutl/v3")),
    # Kubernetes: the kind node image's components, the bare API server, kubectl
    "kubernetes": Tool("KUBERNETES_VERSION", "k8s.io/kubernetes",
                       {c: f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS}, kind="wrapper",
                       replace_staging=True),
    "kind": Tool("KIND_VERSION", "sigs.k8s.io/kind", {"kind": "sigs.k8s.io/kind"}),
    # kind's CNI here: routes between nodes and NetworkPolicy with iptables + ipset
    "kube-router": Tool("KUBE_ROUTER_VERSION", "github.com/cloudnativelabs/kube-router/v2",
                        {"kube-router": "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"},
                        ldflags="-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version={ver}"),
    # kind's default StorageClass provisioner (rancher.io/local-path)
    "local-path-provisioner": Tool("LOCAL_PATH_PROVISIONER_VERSION", "github.com/rancher/local-path-provisioner",
                                   {"local-path-provisioner": "github.com/rancher/local-path-provisioner"},
                                   ldflags="-X main.VERSION={ver}"),
    "coredns": Tool("COREDNS_VERSION", "github.com/coredns/coredns", {"coredns": "github.com/coredns/coredns"},
                    kind="wrapper"),
    "crictl": Tool("CRICTL_VERSION", "sigs.k8s.io/cri-tools", {"crictl": "sigs.k8s.io/cri-tools/cmd/crictl"},
                   kind="wrapper", ldflags="-X sigs.k8s.io/cri-tools/pkg/version.Version={ver}"),
    # the peer linter of the chart tests, in its own virtualenv (its pins clash with ours)
    "checkov": Tool("CHECKOV_VERSION", "checkov", {}, kind="pip", binaries=("checkov",)),
}
# which tool provides each binary
PROVIDER = {name: tool for tool, spec in TOOLS.items() for name in spec.names()}

PAUSE_VERSION = "lk1"   # bump when PAUSE_C changes
PAUSE_C = r"""
/* Minimal pod sandbox process: sleep until told to stop, reap children. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGINT, stop); signal(SIGTERM, stop); signal(SIGCHLD, reap);
    for (;;) pause();
    return 0;
}
"""


def log(msg: str) -> None:
    print(f"[infra] {msg}", file=sys.stderr, flush=True)


def cache() -> Path:
    """Every build output of the project, outside the clone (CHARTGEN_CACHE)."""
    return Path(os.environ.get("CHARTGEN_CACHE") or Path.home() / ".cache" / "chartgen")


def bin_dir(tool: str) -> Path:
    ver = PAUSE_VERSION if tool == "pause" else pin(TOOLS[tool].pin)
    return cache() / "bin" / f"{tool}-{ver}"


def work_dir(name: str) -> Path:
    d = cache() / "build" / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def _run(cmd: list[str], cwd: Path | str = "/", env: dict | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=env or {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"})
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n" + "\n".join(proc.stdout.splitlines()[-40:]))
    return proc.stdout


def _complete(out: Path, names) -> bool:
    return all(os.access(out / n, os.X_OK) for n in names)


def _gomod(module: str, ver: str) -> str:
    info = json.loads(_run(["go", "mod", "download", "-json", f"{module}@{ver}"]))
    return Path(info["GoMod"]).read_text()


def _ldflags(spec: Tool, ver: str) -> str:
    flags = f"-s -w {spec.ldflags.format(ver=ver)}".strip()
    if spec.replace_staging:
        major, minor = ver.lstrip("v").split(".")[:2]
        stamps = {"gitVersion": ver, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean",
                  "buildDate": "1970-01-01T00:00:00Z"}
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            flags += "".join(f" -X {pkg}.{k}={v}" for k, v in stamps.items())
    return flags


def _go_output(package: str) -> str:
    """The file name `go build -o DIR/` gives PACKAGE's binary (a /vN suffix is skipped)."""
    parts = package.split("/")
    return parts[-2] if re.fullmatch(r"v\d+", parts[-1]) else parts[-1]


def _wrapper(tool: str, spec: Tool, ver: str) -> Path:
    """A throwaway module that requires SPEC's module(s) (and, for Kubernetes, pins each staging
    module to the matching v0.x), resolved once per pin."""
    gomod = _gomod(spec.module, ver)
    lines = [f"module chartgen.local/{tool}", "", "go " + re.search(r"^go (\S+)", gomod, re.M).group(1), "",
             *(f"require {m} {ver}" for m in (spec.module, *spec.also)), "",
             *(f"tool {p}" for p in spec.packages.values()), ""]
    if spec.replace_staging:
        staging = sorted(set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", gomod, re.M)))
        v0 = "v0." + ver.split(".", 1)[1]
        lines += ["replace (", *(f"\t{m} => {m} {v0}" for m in staging), ")", ""]
    text = "\n".join(lines)
    work = work_dir(f"{tool}-{ver}")
    if not (work / "go.sum").exists() or (work / "go.mod").read_text() != text:
        (work / "go.mod").write_text(text)
        (work / "go.sum").unlink(missing_ok=True)
        log(f"resolving {spec.module} {ver}")
        _run(["go", "mod", "tidy"], cwd=work)
    return work


def build(tool: str, names: tuple[str, ...] | None = None) -> Path:
    """TOOL's bin directory, with NAMES (default: all its binaries) built when missing."""
    if tool == "pause":
        return _pause()
    spec = TOOLS[tool]
    ver = pin(spec.pin)
    out = bin_dir(tool)
    want = [n for n in (names or spec.names()) if not os.access(out / n, os.X_OK)]
    if not want:
        return out
    t0 = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    if spec.kind == "pip":
        _run([sys.executable, "-m", "venv", str(out)], env=dict(os.environ))
        _run([str(out / "bin" / "pip"), "install", "-q", f"{spec.module}=={ver}"], env=dict(os.environ))
        (out / tool).unlink(missing_ok=True)
        (out / tool).symlink_to(out / "bin" / tool)
    elif spec.kind == "install":
        for name in want:
            log(f"building {name} {ver} from its Go module")
            env = {**os.environ, "GOBIN": str(out), "CGO_ENABLED": "0", "GOFLAGS": "-buildvcs=false"}
            _run(["go", "install", "-trimpath", "-ldflags", _ldflags(spec, ver), f"{spec.packages[name]}@{ver}"],
                 env=env)
    else:
        work = _wrapper(tool, spec, ver)
        log(f"building {', '.join(want)} {ver} from {spec.module}")
        tmp = Path(str(out) + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _run(["go", "build", "-trimpath", "-ldflags", _ldflags(spec, ver), "-o", f"{tmp}/",
              *(spec.packages[n] for n in want)], cwd=work)
        for name in want:
            (tmp / _go_output(spec.packages[name])).rename(out / name)
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"{tool} {ver}: {', '.join(want)} in {time.monotonic() - t0:.0f}s")
    return out


def path(name: str) -> Path:
    """A binary of the shelf by name (etcdctl, kubectl, kind, ...), built when missing."""
    if name == "pause":
        return _pause() / name
    return build(PROVIDER[name], (name,)) / name


def _pause() -> Path:
    out = bin_dir("pause")
    if not _complete(out, ["pause"]):
        out.mkdir(parents=True, exist_ok=True)
        src = out / "pause.c"
        src.write_text(PAUSE_C)
        _run(["gcc", "-Os", "-static", "-o", str(out / "pause.tmp"), str(src)], env=dict(os.environ))
        _run(["strip", str(out / "pause.tmp")], env=dict(os.environ))
        (out / "pause.tmp").rename(out / "pause")
        src.unlink()
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(f"usage: python -m tests.infra.shelf TOOL...  (tools: {', '.join([*TOOLS, 'pause'])}; or a binary name)",
              file=sys.stderr)
        return 2
    for name in argv:
        print(build(name) if name in TOOLS or name == "pause" else path(name).parent)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
