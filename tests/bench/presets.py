"""What the failover bench needs to know of each clustered preset: how to find the leader, an
in-cluster writer that records every acknowledged write, how to read the writes back, and the
settings the most-used charts ship (to compare against).

A writer is a Pod running the engine's own client from the chart's own image, writing key
after key through the chart's client (or primary) Service, each with a 3 s client timeout,
and printing `<seq> <epoch seconds>` for each write the cluster acknowledged in the durable
way the chart documents:
  etcd   `etcdctl put` (a quorum write)
  redis  `SET` then `WAIT 1 1000` answering >= 1 (a replica has it), through <name>-master
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Callable

STOP = "/tmp/stop"


@dataclass
class Preset:
    name: str
    release: str
    selector: str
    # values of the comparison install: what the most-used chart ships
    bitnami: dict[str, Any]
    bitnami_note: str
    upgrade_change: dict[str, Any]  # a setting whose change rolls every pod
    leader: Callable[[Any, str], str | None]
    writer: Callable[[str], tuple[str, str, dict[str, Any]]]  # ns -> (image key, script, env)
    read_back: Callable[[Any, str], set[int]]
    values: dict[str, Any] = field(default_factory=dict)
    flavor: str | None = None
    image_key: str = ""  # its entry in tests/e2e/images.py (default: the preset's name)
    run_as: int | None = None  # uid of the writer pod (an image whose user must not be root)
    # more than ready pods and a leader before the next fault (e.g. no sentinel in TILT mode)
    calm: Callable[[Any, str], bool] | None = None


# -- etcd ---------------------------------------------------------------------------------
def _etcdctl(kube, ns: str, pod: str, *args: str) -> str:
    """etcdctl in pod's agent container (the tools image), as root when auth is on."""
    script = ('if [ -n "${ROOT_PASSWORD:-}" ]; then export ETCDCTL_USER="root:$ROOT_PASSWORD"; fi; '
              "exec etcdctl --endpoints=http://127.0.0.1:2379 " + shlex.join(args))
    return kube.exec(ns, pod, "agent", ["sh", "-c", script])


def _etcd_leader(kube, ns: str) -> str | None:
    for via in ("etcd-0", "etcd-1", "etcd-2"):
        try:
            status = json.loads(_etcdctl(kube, ns, via, "endpoint", "status", "--cluster", "-w", "json"))
            members = json.loads(_etcdctl(kube, ns, via, "member", "list", "-w", "json"))["members"]
        except Exception:  # noqa: BLE001 - that member is down: ask the next
            continue
        leaders = {s["Status"]["leader"] for s in status}
        names = {m["ID"]: m.get("name") for m in members}
        if len(leaders) == 1:
            return names.get(leaders.pop())
    return None


# bash-static and etcdctl only (the tools image): $EPOCHREALTIME stands in for `date`
ETCD_WRITER = f"""
export ETCDCTL_USER="root:$ROOT_PASSWORD"
i=0
while [ ! -e {STOP} ]; do
  i=$((i + 1))
  if etcdctl --endpoints="$ENDPOINT" --dial-timeout=1s --command-timeout=3s put "bench/$i" "$i" >/dev/null 2>&1
  then echo "$i $EPOCHREALTIME"; fi
done
"""


def _etcd_writer(ns: str):
    env = {"ENDPOINT": f"http://etcd.{ns}.svc.cluster.local:2379",
           "ROOT_PASSWORD": {"secretKeyRef": {"name": "etcd-auth", "key": "root-password"}}}
    return "toolsImage", ETCD_WRITER, env


def _etcd_read_back(kube, ns: str) -> set[int]:
    leader = _etcd_leader(kube, ns) or "etcd-0"
    out = json.loads(_etcdctl(kube, ns, leader, "get", "bench/", "--prefix", "--keys-only", "-w", "json"))
    import base64

    return {int(base64.b64decode(kv["key"]).decode().split("/")[1]) for kv in out.get("kvs", [])}


ETCD = Preset(
    name="etcd", release="etcd", selector="app.kubernetes.io/instance=etcd,app.kubernetes.io/component=member",
    values={"auth": {"enabled": True}},
    # bitnami/etcd: probes start after 60 s, every 10 s, 6 failures before a member leaves
    bitnami={"auth": {"enabled": True},
             "readinessProbe": {"initialDelaySeconds": 60, "periodSeconds": 10, "timeoutSeconds": 5,
                                "failureThreshold": 6},
             "livenessProbe": {"initialDelaySeconds": 60, "periodSeconds": 30, "timeoutSeconds": 5,
                               "failureThreshold": 5}},
    bitnami_note="probes as bitnami/etcd: first after 60 s, readiness every 10 s, 6 failures",
    upgrade_change={"etcd": {"snapshotCount": 5000}},
    leader=_etcd_leader, writer=_etcd_writer, read_back=_etcd_read_back,
)


# -- redis --------------------------------------------------------------------------------
def _redis_leader(kube, ns: str) -> str | None:
    masters = [p.metadata.name for p in kube.pods(ns, "app.kubernetes.io/component=member,chartgen.io/role=master")]
    return masters[0] if len(masters) == 1 else None


def _redis_calm(kube, ns: str) -> bool:
    """No sentinel in TILT mode: a thawed sentinel saw its clock jump and acts on nothing for
    30 s (Sentinel's own rule); a fault in that window would measure TILT, not the chart."""
    for pod in kube.ready_names(ns, "app.kubernetes.io/component=member"):
        info = kube.exec(ns, pod, "sentinel", ["sh", "-c", ". /scripts/lib.sh && scli 127.0.0.1 INFO sentinel"])
        if "sentinel_tilt:0" not in info:
            return False
    return True


REDIS_WRITER = f"""
i=0
while [ ! -e {STOP} ]; do
  i=$((i + 1))
  out=$(printf 'SET bench:%s %s\\nWAIT 1 1000\\n' "$i" "$i" |
        REDISCLI_AUTH="$PASSWORD" timeout 3 redis-cli --no-auth-warning -h "$MASTER" -p 6379 2>/dev/null | tr -d '\\r')
  case $out in OK*) acked=${{out##*
}}; [ "${{acked:-0}}" -ge 1 ] 2>/dev/null && echo "$i $(date +%s.%N)" ;; esac
done
"""


def _redis_writer(ns: str):
    env = {"MASTER": f"redis-master.{ns}.svc.cluster.local",
           "PASSWORD": {"secretKeyRef": {"name": "redis-auth", "key": "redis-password"}}}
    return "image", REDIS_WRITER, env


def _redis_read_back(kube, ns: str) -> set[int]:
    master = _redis_leader(kube, ns) or "redis-node-0"
    out = kube.exec(ns, master, "redis", ["sh", "-c", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --no-auth-warning '
                                          "--scan --pattern 'bench:*'"])
    return {int(k.split(":")[1]) for k in out.split() if k.startswith("bench:")}


REDIS = Preset(
    name="redis", release="redis", selector="app.kubernetes.io/instance=redis,app.kubernetes.io/component=member",
    bitnami={"sentinel": {"downAfterMilliseconds": 60000, "failoverTimeout": 180000}},
    bitnami_note="Sentinel timings as bitnami/redis: down-after 60 s, failover-timeout 180 s",
    upgrade_change={"redis": {"extraConfig": "hz 11"}},
    leader=_redis_leader, writer=_redis_writer, read_back=_redis_read_back, calm=_redis_calm,
)

# -- mysql (the mariadb flavor here; Oracle MySQL cannot run on this machine) --------------------
def _mysql_leader(kube, ns: str) -> str | None:
    prim = [p.metadata.name for p in kube.pods(ns, "app.kubernetes.io/component=member,chartgen.io/role=primary")]
    return prim[0] if len(prim) == 1 else None


# ids start at the writer's start time (in ms), so runs never collide in one table; a write is
# acknowledged when its INSERT's commit returns (lossless semi-sync: a replica has it)
MYSQL_WRITER = f"""
umask 077
printf '[client]\\nuser=root\\npassword="%s"\\n' "$ROOT_PASSWORD" > /tmp/root.cnf
q() {{ timeout 3 mariadb --defaults-extra-file=/tmp/root.cnf -h "$PRIMARY" --connect-timeout=2 -N -B -e "$1" 2>/dev/null; }}
until q "CREATE DATABASE IF NOT EXISTS bench; CREATE TABLE IF NOT EXISTS bench.acked (id BIGINT PRIMARY KEY)"; do sleep 1; done
i=$(( $(date +%s) * 1000 ))
while [ ! -e {STOP} ]; do
  i=$((i + 1))
  if q "INSERT INTO bench.acked (id) VALUES ($i)"; then echo "$i $(date +%s.%N)"; fi
done
"""


def _mysql_writer(ns: str):
    env = {"PRIMARY": f"mysql-primary.{ns}.svc.cluster.local",
           "ROOT_PASSWORD": {"secretKeyRef": {"name": "mysql-auth", "key": "root-password"}}}
    return "image", MYSQL_WRITER, env


def _mysql_read_back(kube, ns: str) -> set[int]:
    primary = _mysql_leader(kube, ns) or "mysql-0"
    out = kube.exec(ns, primary, "mysql", ["sh", "-c", "mariadb --defaults-extra-file=/run/mysqld/root.cnf -N -B "
                                           "-e 'SELECT id FROM bench.acked'"])
    return {int(x) for x in out.split() if x.isdigit()}


MYSQL = Preset(
    name="mysql", release="mysql", selector="app.kubernetes.io/instance=mysql,app.kubernetes.io/component=member",
    flavor="mariadb", image_key="mysql-mariadb",
    # bitnami/mysql and bitnami/mariadb: a fixed primary, no failover, no switchover
    bitnami={"failover": {"enabled": False}, "switchover": {"enabled": False}},
    bitnami_note="no failover and no switchover, as bitnami/mysql and bitnami/mariadb (a fixed primary)",
    upgrade_change={"config": {"maxConnections": 501}},
    leader=_mysql_leader, writer=_mysql_writer, read_back=_mysql_read_back, run_as=999,
)

PRESETS = {p.name: p for p in (ETCD, REDIS, MYSQL)}
