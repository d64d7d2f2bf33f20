"""localkube: a real single-node Kubernetes cluster run as host processes.

Test infrastructure for chartgen's e2e suite, not part of the product.
Public entry points for test fixtures::

    from localkube import cluster
    kubeconfig = cluster.up()     # builds what is missing, starts, waits for Ready + DNS
    cluster.down()

See localkube/README.md.
"""
