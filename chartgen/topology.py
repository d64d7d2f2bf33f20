"""Cluster topology rules shared by presets, validation, NOTES and tests.

The same rules live in the charts' ``_peers.tpl`` / ``_pdb.tpl`` helpers (install time);
tests prove that both agree.
"""

from __future__ import annotations

from dataclasses import dataclass


def quorum(members: int) -> int:
    """Votes needed for a majority of ``members``."""
    return members // 2 + 1


def fault_tolerance(members: int) -> int:
    """How many members may fail while a majority remains."""
    return (members - 1) // 2


def pdb_max_unavailable(members: int) -> int:
    """PodDisruptionBudget that never lets voluntary disruptions break the quorum."""
    return fault_tolerance(members)


def odd_count_problem(field: str, members: int) -> str | None:
    """Why ``members`` is not a good quorum size, or None when it is."""
    if members < 1:
        return f"{field}={members}: a cluster needs at least 1 member; use 1, 3 or 5"
    if members % 2 == 0:
        lower, upper = members - 1, members + 1
        return (
            f"{field}={members}: {members} members tolerate {fault_tolerance(members)} failure(s), "
            f"like {lower} do, and a partition can leave no majority; use {lower} or {upper}"
        )
    return None


@dataclass(frozen=True)
class Peers:
    """Stable network identities of a StatefulSet's pods behind a headless Service."""

    fullname: str
    headless: str
    namespace: str
    cluster_domain: str = "cluster.local"

    def pod(self, ordinal: int) -> str:
        return f"{self.fullname}-{ordinal}"

    def fqdn(self, ordinal: int) -> str:
        return f"{self.pod(ordinal)}.{self.headless}.{self.namespace}.svc.{self.cluster_domain}"

    def fqdns(self, members: int) -> list[str]:
        return [self.fqdn(i) for i in range(members)]

    def urls(self, members: int, scheme: str, port: int) -> list[str]:
        return [f"{scheme}://{fqdn}:{port}" for fqdn in self.fqdns(members)]

    def initial_cluster(self, members: int, scheme: str, port: int) -> str:
        """etcd's ``--initial-cluster``: ``name=peerURL`` for every ordinal."""
        return ",".join(
            f"{self.pod(i)}={url}" for i, url in enumerate(self.urls(members, scheme, port))
        )
