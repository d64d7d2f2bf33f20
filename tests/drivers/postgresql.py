"""PostgreSQL, streaming replication under quorum synchronous commit: a write is acknowledged
when its INSERT's commit returned without an error or a WARNING (synchronous_commit = on with
synchronous_standby_names = ANY floor(N/2) (...): that many standbys flushed it; a cancelled
wait returns a WARNING and is not counted), through the <name>-rw Service."""

from __future__ import annotations

import shlex

from tests.drivers import LOADED_HOST_LEASE, PACE, STOP, Driver, Release

PSQL = "/usr/lib/postgresql/17/bin/psql"


class PostgreSQL(Driver):
    name = release = "postgresql"
    preset = "postgresql"
    leader_word = "primary"
    acknowledged = ("the INSERT's commit returned with no error and no WARNING (synchronous_commit = on, "
                    "ANY floor(N/2) standbys flushed it)")
    test_images = {"image": "postgres", "kubectlImage": "kubectl"}
    run_as = 999
    upgrade_change = {"config": {"maxConnections": 201}}
    e2e_values = LOADED_HOST_LEASE
    # bitnami/postgresql (architecture replication): a fixed primary, asynchronous read replicas
    bitnami = {"failover": {"enabled": False}, "switchover": {"enabled": False}, "synchronous": {"enabled": False}}
    bitnami_note = ("no failover, no switchover, asynchronous standbys, as bitnami/postgresql "
                    "(architecture: replication)")

    def sql(self, r: Release, pod: str, query: str, secs: int = 10) -> str:
        """QUERY as postgres from POD's postgresql container, through its socket (peer: no password)."""
        script = (f"timeout {secs} {PSQL} -X -A -t -q -h /var/run/postgresql -U postgres -d postgres "
                  f"-c {shlex.quote(query)} 2>&1")
        return r.kube.exec(r.ns, pod, "postgresql", ["sh", "-c", script], timeout=secs + 30).strip()

    def in_recovery(self, r: Release, pod: str) -> bool | None:
        return {"t": True, "f": False}.get(self.sql(r, pod, "SELECT pg_is_in_recovery()"))

    def lease_holder(self, r: Release) -> str | None:
        return r.kube.coordination.read_namespaced_lease(f"{r.name}-leader", r.ns).spec.holder_identity

    def settled(self, r: Release, n: int) -> str | None:
        """One pod labelled primary, holding the Lease and out of recovery; every other one
        labelled replica, in recovery and streaming from it."""
        labels = r.kube.labelled(r.ns, r.selector, "chartgen.io/role")
        prim = [p for p, role in labels.items() if role == "primary"]
        if len(prim) != 1 or self.lease_holder(r) != prim[0] or self.in_recovery(r, prim[0]) is not False:
            return None
        streaming = self.sql(r, prim[0], "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
        if streaming != str(n - 1):
            return None
        if any(labels.get(p) != "replica" or self.in_recovery(r, p) is not True for p in r.pods(n) if p != prim[0]):
            return None
        return prim[0]

    def writer(self, r: Release):
        script = f"""
umask 077
# the chart generates alphanumeric passwords: nothing to escape in the password file
printf '*:*:*:postgres:%s\\n' "$POSTGRES_PASSWORD" > /tmp/pgpass
export PGPASSFILE=/tmp/pgpass PGCONNECT_TIMEOUT=2
q() {{ timeout 5 {PSQL} -X -A -t -q -v ON_ERROR_STOP=1 -h "$PRIMARY" -U postgres -d postgres -c "$1" 2>/tmp/err; }}
until q "CREATE TABLE IF NOT EXISTS w_$RUN (id bigint PRIMARY KEY)"; do sleep 1; done
i=0
while [ ! -e {STOP} ]; do
  i=$((i + 1))
  if q "INSERT INTO w_$RUN (id) VALUES ($i)" && ! grep -q WARNING /tmp/err; then echo "$i $(date +%s.%N)"; fi
  sleep {PACE}
done
"""
        return "image", script, {"PRIMARY": f"{r.name}-rw.{r.ns}.svc.cluster.local",
                                 "POSTGRES_PASSWORD": {"secret": f"{r.name}-auth", "key": "postgres-password"}}

    def read_back(self, r: Release, run: str, pod: str | None = None) -> set[int]:
        pod = pod or self.leader(r) or r.pod(0)
        out = self.sql(r, pod, f"SELECT id FROM w_{run.replace('-', '_')}", secs=30)
        return {int(x) for x in out.split() if x.isdigit()}
