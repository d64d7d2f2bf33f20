"""python -m tests.infra.kind VERB

    build          base image, Kubernetes binaries, CNI, node image (cached by pins)
    up             the project's dockerd (idempotent)
    create         up + build + kind cluster (1 control plane, 3 workers) + CNI; prints the kubeconfig
    load NAME...   test images (tests/infra/images.py: etcd, redis, ...) into every node
    kubectl ARGS   kubectl against the cluster
    status         dockerd and clusters
    delete         delete the kind cluster
    down           delete the cluster, stop dockerd, remove its bridges and mounts
"""
from __future__ import annotations

import os
import sys

from . import base_image, cluster, dockerd, node_image


def main(argv: list[str]) -> int:
    verb, args = (argv[0], argv[1:]) if argv else ("status", [])
    if verb == "up":
        print(dockerd.up())
    elif verb == "build":
        dockerd.up()
        print(base_image.build())
        print(node_image.build())
    elif verb == "create":
        print(cluster.create())
    elif verb == "load" and args:
        for name in args:
            print(cluster.load_test_image(name))
    elif verb == "kubectl":
        os.execve(str(cluster.kubectl()), ["kubectl", "--kubeconfig", str(cluster.kubeconfig_path()), *args],
                  dict(os.environ))
    elif verb == "status":
        print(dockerd.status())
        print("clusters:", " ".join(cluster.clusters()) or "none")
    elif verb == "delete":
        cluster.delete()
    elif verb == "down":
        with_engine = dockerd.pid() is not None
        if with_engine:
            for name in cluster.clusters():
                cluster.delete(name)
        dockerd.down()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
