"""The e2e cluster: kind with one control plane and three workers in two zones, built entirely
on this machine (no image can be pulled here). One job per module:

- ``dockerd``      the project's own Docker engine: up/down, idempotent, host-wide lock
- ``base_image``   kind's base image recipe, applied to a Debian bookworm root (debootstrap)
- ``node_images``  the images a node must carry (control plane, etcd, CoreDNS, pause, CNI, storage)
- ``node_image``   the kubernetes-server tarball + ``kind build node-image --type file``
- ``cni``          kube-router, the CNI (routes and NetworkPolicy)
- ``cluster``      the kind config (1 control plane + 3 zoned workers), create/delete, image loading

Binaries come from the shelf (tests/infra/shelf.py), test images from tests/infra/images.py.
"""
