"""Cluster topology rules shared by presets, validation, NOTES and tests.

The same rules live in the charts' ``_peers.tpl`` / ``_pdb.tpl`` helpers (install time);
tests prove that both agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def quorum(members: int) -> int:
    """Votes needed for a majority of ``members``."""
    return members // 2 + 1


def fault_tolerance(members: int) -> int:
    """How many members may fail while a majority remains."""
    return (members - 1) // 2


def pdb_max_unavailable(members: int) -> int:
    """PodDisruptionBudget that never lets voluntary disruptions break the quorum."""
    return fault_tolerance(members)


# Largest member count of a chart where a majority decides (every majority preset: 1, 3, 5 or 7)
MAX_MEMBERS = 7
ALLOWED_COUNTS = tuple(range(1, MAX_MEMBERS + 1, 2))


def count_rule(field: str, why: str) -> str:
    """The rule a majority preset's member count follows, in words (schema and CLI say it)."""
    allowed = ", ".join(map(str, ALLOWED_COUNTS[:-1])) + f" or {ALLOWED_COUNTS[-1]}"
    return (f"{field} must be {allowed}: an odd count, so a partition always leaves one majority, "
            f"and at most {MAX_MEMBERS}: {why}")


def odd_count_problem(field: str, members: int, max_why: str = "") -> str | None:
    """Why ``members`` is not a good quorum size, or None when it is."""
    if members > MAX_MEMBERS:
        return (f"{field}={members}: at most {MAX_MEMBERS} members ({max_why or 'a larger majority only slows writes'}); "
                f"use {MAX_MEMBERS} or fewer (1, 3, 5 or 7)")
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



def rendered_peer_lists(objects: list[dict[str, Any]], statefulset: str) -> list[tuple[str, list[str]]]:
    """Every PEERS list Helm rendered for STATEFULSET's pods (a ConfigMap key or a container's
    env), as (where, FQDNs): what the charts' scripts read, to hold against Peers.fqdns."""
    found = []

    def keep(where: str, value: str) -> None:
        listed = value.split()
        if listed and all(name.startswith(f"{statefulset}-") for name in listed):
            found.append((where, listed))

    for obj in objects:
        kind, name = obj.get("kind"), obj.get("metadata", {}).get("name")
        if kind == "ConfigMap" and "PEERS" in (obj.get("data") or {}):
            keep(f"ConfigMap/{name}", obj["data"]["PEERS"])
        spec = obj.get("spec") or {}
        pod = spec if kind == "Pod" else (spec.get("template") or {}).get("spec") or (
            ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
            for env in c.get("env") or []:
                if env.get("name") == "PEERS" and "value" in env:
                    keep(f"{kind}/{name} container {c['name']}", env["value"])
    return found
