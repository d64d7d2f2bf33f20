"""python -m localkube setup|build|up|down|status|image NAME|kubectl ARGS|smoke"""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import build, cluster, images


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m localkube", description=__doc__)
    ap.add_argument("--state", help="state directory (default $LOCALKUBE_STATE or "
                    "${CHARTGEN_CACHE:-~/.cache/chartgen}/localkube/state)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("setup", help="apt-get install the host packages (root)")
    b = sub.add_parser("build", help="build or find every binary (cached)")
    b.add_argument("--force", action="store_true")
    u = sub.add_parser("up", help="start the cluster; prints the kubeconfig path")
    u.add_argument("--no-build", action="store_true", help="fail if binaries are missing")
    u.add_argument("--timeout", type=float, default=180)
    d = sub.add_parser("down", help="stop everything and clean up")
    d.add_argument("--purge", action="store_true", help="also delete the state directory")
    sub.add_parser("status")
    sub.add_parser("env", help="print `export KUBECONFIG=... PATH=...` for a shell")
    i = sub.add_parser("image", help="build a test image and import it if the cluster runs")
    i.add_argument("name", choices=sorted(images.RECIPES))
    i.add_argument("--force", action="store_true", help="rebuild the image archive")
    k = sub.add_parser("kubectl", help="kubectl with the cluster's admin kubeconfig")
    k.add_argument("args", nargs=argparse.REMAINDER)
    s = sub.add_parser("smoke", help="StatefulSet/PVC/DNS/Service smoke test on a running cluster")
    s.add_argument("--keep", action="store_true")
    argv = list(sys.argv[1:] if argv is None else argv)
    # everything after `kubectl` goes to kubectl untouched (argparse would eat -n etc.)
    kargs: list[str] = []
    if "kubectl" in argv:
        i = argv.index("kubectl")
        argv, kargs = argv[:i + 1], argv[i + 1:]
    a = ap.parse_args(argv)
    if a.cmd == "kubectl":
        a.args = kargs

    try:
        if a.cmd == "setup":
            cluster.setup()
        elif a.cmd == "build":
            for name, path in build.build_all(force=a.force).items():
                print(f"{name}\t{path}")
        elif a.cmd == "up":
            print(cluster.up(a.state, build_missing=not a.no_build, timeout=a.timeout))
        elif a.cmd == "down":
            cluster.down(a.state, purge=a.purge)
        elif a.cmd == "status":
            st = cluster.status(a.state)
            print(json.dumps(st, indent=2))
            return 0 if st["node_ready"] is True else 1
        elif a.cmd == "env":
            import shlex
            for key, value in cluster.env(a.state).items():
                print(f"export {key}={shlex.quote(value)}")
        elif a.cmd == "image":
            lay = cluster.Layout(cluster.state_dir(a.state))
            running = lay.procs.pid("containerd") is not None
            ref = images.image(a.name, lay.containerd_sock if running else None, force=a.force)
            if not running:
                print(f"(cluster not running: {ref} built, not imported)", file=sys.stderr)
            print(ref)
        elif a.cmd == "kubectl":
            lay = cluster.Layout(cluster.state_dir(a.state))
            kubectl = build.binaries()["kubectl"]
            os.execv(kubectl, [str(kubectl), "--kubeconfig", str(lay.admin_kubeconfig), *a.args])
        elif a.cmd == "smoke":
            print(json.dumps(__import__("localkube.smoke").smoke.run(a.state, keep=a.keep),
                             indent=2))
    except (cluster.ClusterError, RuntimeError, KeyError) as e:
        print(f"localkube {a.cmd}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
