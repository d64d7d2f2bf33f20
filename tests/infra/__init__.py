"""Test infrastructure: everything that builds or runs clusters and emulated pods (not product;
never imported by ``chartgen/``). One job per module:

- ``host``       the one installer of this machine's Debian packages (make host-deps)
- ``shelf``      one table of pinned tools built from their Go modules (helm, etcd, Kubernetes,
                 kind, its CNI and provisioner, CoreDNS, crictl) or pip (checkov), cached by version
- ``images``     root file systems from debootstrap (Debian trixie for the servers under test),
                 each pruned to exactly its default image's tools; packed as image archives
- ``netns``      "pods" without Kubernetes: a network namespace per pod on a private bridge
- ``podspec``    a rendered pod spec turned into what the kubelet would run
- ``pods``       a chart's pods as processes, each container chrooted into its image's root
- ``apiserver``  a bare kube-apiserver + etcd for member-level tests that need the API
- ``kind``       the e2e cluster: kind with 1 control plane + 3 workers, built on this machine
"""
