"""The postgresql chart's pods as processes (tests/infra/pods.py), with a real Kubernetes API.

Each "pod" runs its rendered containers in the postgres image's stand-in (Debian trixie's
postgresql-17, PostgreSQL 17, at the official image's paths, on a userland pruned to its tools),
as the pod's uid (999): the server (start.sh), the agent and the kubectl sidecar, which runs
`kubectl proxy` against a bare API server (tests/infra/apiserver.py) with a token of the
release's ServiceAccount, so the Lease, its compare-and-swap and the role labels are real. The
members' Pod objects are placeholders that are never scheduled (tests/runtime/mysql_cluster.py:
MemberApi).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.infra.netns import PodNetwork
from tests.infra.pods import Pods
from tests.runtime.mysql_cluster import MemberApi


class PgPods(Pods):
    def __init__(self, objects: list[dict[str, Any]], workdir: Path, net: PodNetwork, api: MemberApi,
                 record: tuple[str, ...] = ()):
        api.apply(objects)
        super().__init__(objects, workdir, net, record=record, api=api)
        env = self.env(0, "postgresql")
        self.lease_name = env["LEASE_NAME"]
        self.password = env["POSTGRES_PASSWORD"]
        self.port = env["SERVER_PORT"]
        self.writers: list["Writer"] = []   # stopped after each test (a failed one leaves none writing)

    def render(self, objects: list[dict[str, Any]]) -> None:
        """A helm upgrade (the Secret kept, as an upgrade keeps it)."""
        kept = {o["metadata"]["name"]: o for o in self.objects if o["kind"] == "Secret"}
        objects = [kept.get(o["metadata"]["name"], o) if o["kind"] == "Secret" else o for o in objects]
        super().render(objects)
        self.api.apply(objects)

    def start(self, ordinal: int, fresh_data: bool = False):
        self.api.placeholder(self.name(ordinal))
        return super().start(ordinal, fresh_data)

    @property
    def size(self) -> int:
        """The StatefulSet's replicas in the chart as last rendered."""
        return next(o["spec"]["replicas"] for o in self.objects if o["kind"] == "StatefulSet")

    def revive(self, ordinals) -> None:
        """Undo what a failed test may have left: every member of ORDINALS running and thawed."""
        for i in ordinals:
            if not self.net.alive(self.name(i)):
                self.start(i)
                continue
            for pid in self.net.pids(self.name(i)):
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass

    # -- clients, run inside a pod's namespace where the FQDNs resolve ---------------------
    def client_env(self) -> dict[str, str]:
        """postgres over the network: the test's client takes the password from its environment."""
        return {"PATH": "/usr/lib/postgresql/17/bin:/usr/bin:/bin", "HOME": "/tmp", "PGPASSWORD": self.password,
                "PGCONNECT_TIMEOUT": "3"}

    def sql(self, ordinal: int, query: str, via: int | None = None, timeout: float = 10,
            host: str | None = None) -> subprocess.CompletedProcess:
        """QUERY as postgres on pod ORDINAL's server (by FQDN), from pod VIA's postgresql container."""
        via = ordinal if via is None else via
        argv = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", host or self.fqdn(ordinal),
                "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-c", query]
        return self.run(via, "postgresql", argv, env=self.client_env(), timeout=timeout)

    def out(self, ordinal: int, query: str, **kw) -> str | None:
        """QUERY's output, None when it failed."""
        if not self.net.alive(self.name(ordinal)) and "host" not in kw:
            return None
        try:
            proc = self.sql(ordinal, query, **kw)
        except subprocess.TimeoutExpired:
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    def primaries(self, ordinals) -> list[int]:
        """The members out of recovery (that would take writes)."""
        return [i for i in ordinals if self.out(i, "SELECT pg_is_in_recovery()", timeout=5) == "f"]

    def receiver(self, ordinal: int) -> str | None:
        """'<status> <sender host>' of pod ORDINAL's WAL receiver ('' when it has none)."""
        return self.out(ordinal, "SELECT coalesce((SELECT status || ' ' || sender_host FROM pg_stat_wal_receiver), '')")

    def holder(self) -> str | None:
        return self.api.lease(self.lease_name)["spec"].get("holderIdentity")

    def ready(self, ordinal: int) -> bool:
        argv = self.pod(ordinal).handler("postgresql", "readinessProbe")
        return self.run(ordinal, "postgresql", argv, timeout=30).returncode == 0

    def healthy(self, ordinals) -> int | None:
        """The primary's ordinal when ORDINALS hold exactly one member out of recovery, it holds
        the Lease, and every other one streams from it; else None."""
        ordinals = list(ordinals)
        primary = self.primaries(ordinals)
        if len(primary) != 1:
            return None
        p = primary[0]
        if self.holder() != self.name(p):
            return None
        for i in ordinals:
            if i != p and self.receiver(i) != f"streaming {self.fqdn(p)}":
                return None
        return p

    def ids(self, ordinal: int, table: str = "acked") -> set[int]:
        out = self.out(ordinal, f"SELECT id FROM {table}", timeout=30)
        # an unanswered query is never 'no rows' (two silent members would compare equal)
        assert out is not None, f"{self.name(ordinal)} did not answer SELECT id FROM {table}"
        return {int(x) for x in out.split()}

    def agent_log(self, ordinal: int) -> str:
        return self.log(ordinal).read_text()


class Writer(threading.Thread):
    """Commits rows (autocommit, synchronous_commit = on) through whoever holds the Lease (or pod TO), one
    connection per statement, from pod VIA's namespace, and keeps the ids whose commit returned
    without an error or a WARNING: the acknowledged commits (a commit whose wait for the standbys
    was cancelled returns with a WARNING: committed locally, not acknowledged)."""

    def __init__(self, pods: PgPods, via: int | list[int], start: int, seconds: float, to: int | None = None):
        """VIA: the client's pod, or pods (the first running one)."""
        super().__init__(daemon=True)
        self.pods, self.via, self.next, self.seconds, self.to = pods, via, start, seconds, to
        self.acked: set[int] = set()
        self.failed = 0
        self.times: list[float] = []   # when each acknowledgement came (monotonic)
        self.stop = threading.Event()
        pods.writers.append(self)

    def longest_gap(self) -> float:
        """The longest time between two acknowledged commits."""
        return max((b - a for a, b in zip(self.times, self.times[1:])), default=0.0)

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while time.monotonic() < deadline and not self.stop.is_set():
            try:  # TO: always that member (while the API is away)
                holder = self.pods.name(self.to) if self.to is not None else self.pods.holder()
            except Exception:  # noqa: BLE001 - the API may hiccup
                holder = None
            i = self.next
            self.next += 1
            if not holder:
                self.failed += 1
                time.sleep(0.05)
                continue
            host = self.pods.fqdn(int(holder.rsplit("-", 1)[1]))
            via = self.via if isinstance(self.via, int) else next(
                (v for v in self.via if self.pods.net.alive(self.pods.name(v))), self.via[0])
            try:
                proc = self.pods.sql(via, f"INSERT INTO acked (id) VALUES ({i})", host=host, timeout=20)
                ok = proc.returncode == 0 and "WARNING" not in proc.stderr
            except subprocess.TimeoutExpired:
                ok = False
            except Exception:  # noqa: BLE001 - the client's pod is restarting: not acknowledged
                ok = False
            if ok:
                self.acked.add(i)
                self.times.append(time.monotonic())
            else:
                self.failed += 1
                time.sleep(0.05)
