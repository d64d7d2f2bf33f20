import pytest

from chartgen.topology import Peers, fault_tolerance, odd_count_problem, pdb_max_unavailable, quorum


@pytest.mark.parametrize("n,q,f", [(1, 1, 0), (3, 2, 1), (4, 3, 1), (5, 3, 2), (7, 4, 3)])
def test_quorum_and_fault_tolerance(n, q, f):
    assert quorum(n) == q
    assert fault_tolerance(n) == f
    assert pdb_max_unavailable(n) == f


def test_even_counts_are_explained():
    msg = odd_count_problem("replicaCount", 4)
    assert "4 members tolerate 1 failure" in msg and "like 3" in msg and "use 3 or 5" in msg


@pytest.mark.parametrize("n", [1, 3, 5, 7])
def test_odd_counts_pass(n):
    assert odd_count_problem("replicaCount", n) is None


@pytest.mark.parametrize("n", [9, 11, 1001])
def test_more_than_seven_members_are_refused_with_the_reason(n):
    msg = odd_count_problem("replicaCount", n, "the etcd FAQ: no more than seven")
    assert msg == (f"replicaCount={n}: at most 7 members (the etcd FAQ: no more than seven); "
                   "use 7 or fewer (1, 3, 5 or 7)")


def test_zero_is_refused():
    assert "at least 1" in odd_count_problem("replicaCount", 0)


def test_peer_fqdns():
    peers = Peers("etcd", "etcd-headless", "db", "cluster.local")
    assert peers.fqdn(2) == "etcd-2.etcd-headless.db.svc.cluster.local"
    assert peers.fqdns(3) == [f"etcd-{i}.etcd-headless.db.svc.cluster.local" for i in range(3)]
    assert peers.urls(2, "http", 2380) == [f"http://etcd-{i}.etcd-headless.db.svc.cluster.local:2380" for i in range(2)]
