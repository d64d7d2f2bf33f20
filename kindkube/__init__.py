"""kindkube: a multi-node kind cluster built entirely on this machine, for chartgen's e2e suite.

Test infrastructure, not product (never imported by ``chartgen/``). One job per module:

- ``paths``        where build outputs and runtime state live (all under $CHARTGEN_CACHE or /run)
- ``dockerd``      the project's own Docker engine: up/down, idempotent, host-wide lock
- ``gobuild``      Go binaries from their modules (kind, kube-router, local-path-provisioner)
- ``base_image``   kind's base image recipe, applied to a Debian bookworm rootfs (debootstrap)
- ``node_images``  the images a node must carry (control plane, etcd, CoreDNS, pause, CNI, storage)
- ``node_image``   the kubernetes-server tarball + ``kind build node-image --type file``
- ``cluster``      the kind config (1 control plane + 3 zoned workers), create/delete, image loading
"""
