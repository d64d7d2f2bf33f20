"""MySQL / MariaDB, GTID replication under lossless semi-sync: a write is acknowledged when its
INSERT's commit returned OK (AFTER_SYNC: a replica has it), through the <name>-primary Service."""

from __future__ import annotations

import shlex

from tests.drivers import LOADED_HOST_LEASE, PACE, STOP, Driver, Release


class MariaDB(Driver):
    name = release = "mariadb"
    preset = "mysql"
    flavor = "mariadb"
    client = "mariadb"
    leader_word = "primary"
    acknowledged = "the INSERT's commit returned OK (lossless semi-sync AFTER_SYNC: a replica has it)"
    test_images = {"image": "mariadb", "kubectlImage": "kubectl"}
    run_as = 999
    upgrade_change = {"config": {"maxConnections": 501}}
    e2e_values = LOADED_HOST_LEASE
    # bitnami/mysql and bitnami/mariadb: a fixed primary, no failover, no switchover
    bitnami = {"failover": {"enabled": False}, "switchover": {"enabled": False}}
    bitnami_note = "no failover and no switchover, as bitnami/mysql and bitnami/mariadb (a fixed primary)"

    def sql(self, r: Release, pod: str, query: str, host: str = "", secs: int = 10) -> str:
        """QUERY as root from POD's mysql container (its option file: the password never on a
        command line)."""
        target = f" -h {shlex.quote(host)} --connect-timeout=3" if host else ""
        script = (f"timeout {secs} {self.client} --defaults-extra-file=/run/mysqld/root.cnf{target} -N -B "
                  f"-e {shlex.quote(query)} 2>&1")
        return r.kube.exec(r.ns, pod, "mysql", ["sh", "-c", script], timeout=secs + 30).strip()

    def writable(self, r: Release, pod: str) -> bool | None:
        return {"0": True, "1": False}.get(self.sql(r, pod, "SELECT @@read_only"))

    def lease_holder(self, r: Release) -> str | None:
        return r.kube.coordination.read_namespaced_lease(f"{r.name}-leader", r.ns).spec.holder_identity

    def settled(self, r: Release, n: int) -> str | None:
        """One pod labelled primary, holding the Lease and writable; every other one labelled
        replica and read-only."""
        labels = r.kube.labelled(r.ns, r.selector, "chartgen.io/role")
        prim = [p for p, role in labels.items() if role == "primary"]
        if len(prim) != 1 or self.lease_holder(r) != prim[0] or not self.writable(r, prim[0]):
            return None
        if any(labels.get(p) != "replica" or self.writable(r, p) is not False for p in r.pods(n) if p != prim[0]):
            return None
        return prim[0]

    def writer(self, r: Release):
        script = f"""
umask 077
printf '[client]\\nuser=root\\npassword="%s"\\n' "$ROOT_PASSWORD" > /tmp/root.cnf
q() {{ timeout 3 {self.client} --defaults-extra-file=/tmp/root.cnf -h "$PRIMARY" --connect-timeout=2 -N -B -e "$1" 2>/dev/null; }}
until q "CREATE DATABASE IF NOT EXISTS w; CREATE TABLE IF NOT EXISTS w.$RUN (id BIGINT PRIMARY KEY)"; do sleep 1; done
i=0
while [ ! -e {STOP} ]; do
  i=$((i + 1))
  if q "INSERT INTO w.$RUN (id) VALUES ($i)"; then echo "$i $(date +%s.%N)"; fi
  sleep {PACE}
done
"""
        return "image", script, {"PRIMARY": f"{r.name}-primary.{r.ns}.svc.cluster.local",
                                 "ROOT_PASSWORD": {"secret": f"{r.name}-auth", "key": "root-password"}}

    def read_back(self, r: Release, run: str, pod: str | None = None) -> set[int]:
        pod = pod or self.leader(r) or r.pod(0)
        out = self.sql(r, pod, f"SELECT id FROM w.{run.replace('-', '_')}", secs=30)
        return {int(x) for x in out.split() if x.isdigit()}


class MySQL(MariaDB):
    """The mysql flavor: Oracle MySQL 8.4 (CLONE seeds replicas)."""
    name = release = "mysql"
    flavor = "mysql"
    client = "mysql"
    test_images = {}
    cannot_run_here = ("Oracle MySQL has no Debian package and no registry serves its official image here: "
                       "runs only with --cluster=existing, where docker.io/library/mysql can be pulled")
