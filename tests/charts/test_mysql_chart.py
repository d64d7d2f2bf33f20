"""The mysql chart through the real helm, both flavors: what is MySQL's own
(tests/charts/test_contract.py holds what every preset keeps: lint matrix, counts, peers, PDB,
affinity, secrets, policy, images' tools, shellcheck, checkov)."""

import base64

import pytest

import chartgen
from chartgen.errors import HelmError, InvalidValueError
from chartgen.topology import Peers
from chartgen.versions import pin
from tests.charts.rendered import containers as _containers
from tests.charts.rendered import env as _env
from tests.charts.rendered import first as _kind
from tests.charts.rendered import pod_spec as _pod

FLAVORS = {"mysql": "MYSQL_IMAGE", "mariadb": "MARIADB_IMAGE"}


@pytest.fixture(scope="module", params=list(FLAVORS))
def flavored(request, tmp_path_factory):
    flavor = request.param
    chart = chartgen.generate("mysql", "mysql", flavor=flavor, output=tmp_path_factory.mktemp(flavor) / "mysql")
    return flavor, chart


def _mycnf(objects):
    return _kind(objects, "ConfigMap", "mysql-config")["data"]["my.cnf"]


def test_default_flavor_is_mysql_84_and_each_flavor_its_official_image(flavored, helm):
    flavor, chart = flavored
    objects = helm.template(chart.path, "mysql")
    c = _containers(objects)
    image = pin(FLAVORS[flavor])
    assert {c[n]["image"] for n in c} == {image}
    assert chart.metadata["annotations"]["chartgen.io/flavor"] == flavor
    assert chart.metadata["appVersion"] == image.rsplit(":", 1)[1]
    assert image.startswith("docker.io/library/mysql:8.4." if flavor == "mysql" else "docker.io/library/mariadb:11.8.")
    default = chartgen.generate("mysql", "x", output=chart.path.parent.parent / f"default-{flavor}" / "x")
    assert default.metadata["annotations"]["chartgen.io/flavor"] == "mysql"


def test_statefulset_pod_and_sidecars(flavored, helm):
    flavor, chart = flavored
    objects = helm.template(chart.path, "mysql")
    sts = _kind(objects, "StatefulSet", "mysql")
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["serviceName"] == "mysql-headless"
    pod = _pod(objects)
    assert pod["shareProcessNamespace"] is True and pod["automountServiceAccountToken"] is False
    (kubectl,) = pod["initContainers"]
    assert kubectl["restartPolicy"] == "Always"  # a native sidecar: up during the preStop switchover
    assert kubectl["image"] == pin("KUBECTL_IMAGE")
    assert kubectl["command"] == ["/bin/kubectl", "proxy", "--address=127.0.0.1", "--port=8001"]
    c = _containers(objects)
    assert list(c) == (["mysql", "agent", "donor"] if flavor == "mariadb" else ["mysql", "agent"])
    assert c["mysql"]["command"] == ["/bin/sh", "/scripts/start.sh"]
    assert c["mysql"]["readinessProbe"]["exec"]["command"][-1] == "ready"
    assert c["mysql"]["livenessProbe"]["exec"]["command"][-1] == "live"
    assert c["mysql"]["lifecycle"]["preStop"]["exec"]["command"][-1] == "server"
    assert c["agent"]["lifecycle"]["preStop"]["exec"]["command"][-1] == "agent"
    # only the sidecar holds an API token
    assert all("kube-api-access" not in {m["name"] for m in x["volumeMounts"]} for x in c.values())
    assert "kube-api-access" in {m["name"] for m in kubectl["volumeMounts"]}
    assert pod["securityContext"]["runAsUser"] == 999 and pod["securityContext"]["fsGroup"] == 999
    # the run volume (socket, client option files with passwords) lives in memory
    run = next(v for v in pod["volumes"] if v["name"] == "run")
    assert run["emptyDir"]["medium"] == "Memory"
    if flavor == "mariadb":
        assert c["donor"]["ports"] == [{"name": "donor", "containerPort": 4444}]
        np = _kind(objects, "NetworkPolicy")
        peer = next(r for r in np["spec"]["ingress"] if r.get("from"))
        assert [p["port"] for p in peer["ports"]] == ["mysql", "donor"]


@pytest.mark.parametrize("n", [1, 3, 5, 7])
def test_identity_peers_and_semisync_count(flavored, helm, n):
    flavor, chart = flavored
    objects = helm.template(chart.path, "db", "data", {"replicaCount": n, "clusterDomain": "k8s.example"})
    peers = Peers("db-mysql", "db-mysql-headless", "data", "k8s.example")
    c = _containers(objects)
    env = _env(c["agent"])
    assert env["PEERS"].split() == peers.fqdns(n)
    assert _env(c["mysql"])["SERVER_ID_BASE"] == "100"
    # floor(N/2) replicas acknowledge each commit on MySQL; MariaDB has no count (one)
    want = 0 if n == 1 else (n // 2 if flavor == "mysql" else 1)
    assert env["SEMI_SYNC_WAIT"] == str(want)
    role = _kind(objects, "Role")
    pods = next(r for r in role["rules"] if r["resources"] == ["pods"])
    assert pods["resourceNames"] == [peers.pod(i) for i in range(n)] and pods["verbs"] == ["get", "patch"]
    leases = next(r for r in role["rules"] if r["resources"] == ["leases"])
    assert leases["resourceNames"] == ["db-mysql-leader"] and "create" not in leases["verbs"]
    lease = _kind(objects, "Lease", "db-mysql-leader")
    assert lease["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert lease["spec"] == {"leaseDurationSeconds": 8}  # the holder is the agents' business


def test_server_config_gtid_read_only_semisync(flavored, helm):
    flavor, chart = flavored
    cnf = _mycnf(helm.template(chart.path, "mysql"))
    for line in ("log-bin=binlog", "binlog-format=ROW", "skip-name-resolve", "datadir=/var/lib/mysql/data",
                 "socket=/run/mysqld/mysqld.sock"):
        assert line in cnf.splitlines()
    if flavor == "mysql":
        assert cnf.startswith("[mysqld]")
        for line in ("gtid-mode=ON", "enforce-gtid-consistency=ON", "super-read-only=ON", "skip-replica-start=ON",
                     "plugin-load-add=mysql_clone.so", "plugin-load-add=semisync_source.so",
                     "loose-rpl-semi-sync-source-wait-point=AFTER_SYNC",
                     "loose-rpl-semi-sync-source-timeout=4294967295", "log-replica-updates=ON"):
            assert line in cnf.splitlines(), line
        assert "slave" not in cnf and "master" not in cnf  # 8.4 removed those names
    else:
        assert cnf.startswith("[mariadbd]")
        for line in ("gtid-strict-mode=ON", "log-slave-updates=ON", "gtid-domain-id=0", "read-only=ON",
                     "skip-slave-start", "rpl-semi-sync-master-wait-point=AFTER_SYNC",
                     "rpl-semi-sync-master-timeout=4294967295", "rpl-semi-sync-slave-enabled=ON"):
            assert line in cnf.splitlines(), line
        assert "super-read-only" not in cnf and "gtid-mode" not in cnf


def test_flavor_specific_sql_only_where_the_servers_differ(flavored):
    flavor, chart = flavored
    engine = "\n".join(line for line in (chart.path / "files" / "engine.sh").read_text().splitlines()
                       if not line.lstrip().startswith("#"))
    shared = "".join((chart.path / "files" / f).read_text() for f in ("agent.sh", "start.sh", "lib.sh", "probe.sh"))
    for old in ("CHANGE MASTER", "CHANGE REPLICATION SOURCE", "SHOW SLAVE", "RESET MASTER", "SHOW MASTER",
                "read_only =", "gtid_slave_pos"):
        assert old not in shared, f"{old!r} belongs in engine.sh"
    code = [line.strip() for line in shared.splitlines() if line.strip() and not line.strip().startswith("#")]
    for client in ("mysql", "mysqladmin", "mariadb", "mariadb-admin", "mysqld", "mariadbd"):
        assert not [line for line in code if line.split()[0] == client], f"{client}: call it as $CLIENT/$ADMIN/$SERVER"
    if flavor == "mysql":
        assert "CHANGE REPLICATION SOURCE TO" in engine and "SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1" in engine
        assert "CLONE INSTANCE FROM" in engine and "clone_valid_donor_list" in engine and "BACKUP_ADMIN" in engine
        for removed in ("CHANGE MASTER", "SHOW SLAVE STATUS", "RESET MASTER", "SHOW MASTER STATUS", "mariadb"):
            assert removed not in engine
        assert not (chart.path / "files" / "donor.sh").exists()
    else:
        assert "MASTER_USE_GTID=slave_pos" in engine and "gtid_slave_pos" in engine
        assert "mariadb-backup --prepare" in engine and "REVOKE READ_ONLY ADMIN ON *.* FROM 'root'@'%%'" in engine
        assert "super_read_only" not in engine and "mysqld" not in engine
        donor = (chart.path / "files" / "donor.sh").read_text()
        assert "--stream=xbstream" in donor and "socat" in donor and "sha256sum" in donor


def test_no_container_sets_a_variable_twice(flavored, helm):
    """Server-side apply refuses duplicate env entries (helm test pods included)."""
    _, chart = flavored
    for obj in helm.template(chart.path, "mysql", values={"auth": {"username": "a", "database": "d"}}):
        if obj["kind"] not in ("StatefulSet", "Pod"):
            continue
        pod = obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]
        for c in pod.get("initContainers", []) + pod["containers"]:
            names = [e["name"] for e in c.get("env", [])]
            assert len(names) == len(set(names)), f"{obj['kind']}/{obj['metadata']['name']} {c['name']}: {names}"


def test_services_primary_by_role_label_read_by_replica_label(flavored, helm):
    _, chart = flavored
    objects = helm.template(chart.path, "mysql")
    members = {"app.kubernetes.io/name": "mysql", "app.kubernetes.io/instance": "mysql",
               "app.kubernetes.io/component": "member"}
    assert _kind(objects, "Service", "mysql-primary")["spec"]["selector"] == {**members, "chartgen.io/role": "primary"}
    assert _kind(objects, "Service", "mysql-read")["spec"]["selector"] == {**members, "chartgen.io/role": "replica"}
    assert _kind(objects, "Service", "mysql-headless")["spec"]["clusterIP"] == "None"
    pod_labels = _kind(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert "chartgen.io/role" not in pod_labels  # only the agents set it


def test_users_secret_and_passwords_never_on_a_command_line(flavored, helm):
    _, chart = flavored
    objects = helm.template(chart.path, "mysql", values={"auth": {"username": "app", "database": "appdb"}})
    secret = _kind(objects, "Secret", "mysql-auth")
    assert set(secret["data"]) == {"root-password", "replication-password", "password"}
    assert all(len(base64.b64decode(v)) == 32 for v in secret["data"].values())
    env = _env(_containers(objects)["mysql"])
    assert env["APP_USER"] == "app" and env["APP_DATABASE"] == "appdb"
    assert env["ROOT_PASSWORD"] == {"secretKeyRef": {"name": "mysql-auth", "key": "root-password"}}
    mine = helm.template(chart.path, "mysql", values={"auth": {"existingSecret": "mine"}})
    assert [o for o in mine if o["kind"] == "Secret"] == []
    assert _env(_containers(mine)["agent"])["REPLICATION_PASSWORD"]["secretKeyRef"]["name"] == "mine"
    lib = (chart.path / "files" / "lib.sh").read_text()
    assert "umask 077" in lib and "--defaults-extra-file" in lib and "MYSQL_PWD" not in lib


def test_failover_off_has_no_lease_and_semisync_off(flavored, helm):
    _, chart = flavored
    objects = helm.template(chart.path, "mysql", values={"failover": {"enabled": False},
                                                         "semiSync": {"enabled": False}})
    assert not [o for o in objects if o["kind"] == "Lease"]
    env = _env(_containers(objects)["agent"])
    assert env["FAILOVER"] == "0" and env["SEMI_SYNC_WAIT"] == "0"
    fallback = helm.template(chart.path, "mysql", values={"semiSync": {"fallbackToAsync": True, "timeoutSeconds": 5}})
    assert "timeout=5000" in _mycnf(fallback)


@pytest.mark.parametrize("values,message", [
    ({"switchover": {"timeoutSeconds": 60}}, "must be below terminationGracePeriodSeconds"),
    ({"failover": {"leaseDurationSeconds": 5, "renewIntervalSeconds": 2}}, "at least 2 x renewIntervalSeconds"),
    ({"auth": {"username": "app"}}, "auth.username and auth.database go together"),
])
def test_template_guards_explain(flavored, helm, values, message):
    _, chart = flavored
    with pytest.raises(HelmError, match=message):
        helm.template(chart.path, "mysql", values=values)


def test_schema_refuses_bad_names_and_generation_refuses_what_the_templates_would():
    with pytest.raises(InvalidValueError, match="auth"):
        chartgen.generate("mysql", "x", values={"auth": {"username": "bad name"}}, output="/nonexistent/never")
    with pytest.raises(InvalidValueError, match="replicaCount"):
        chartgen.generate("mysql", "x", replicas=4, output="/nonexistent/never")
    with pytest.raises(InvalidValueError, match="flavor"):
        chartgen.generate("mysql", "x", flavor="postgres", output="/nonexistent/never")


def test_notes_say_how_to_connect_and_which_flavor(flavored, helm):
    flavor, chart = flavored
    notes = helm.run(["install", "db", str(chart.path), "--dry-run=client", "--namespace", "data"])
    assert ("MariaDB" if flavor == "mariadb" else "MySQL") + " with GTID replication" in notes
    assert "db-mysql-primary.data.svc.cluster.local:3306" in notes and "db-mysql-read.data.svc.cluster.local" in notes
    assert "db-mysql-0.db-mysql-headless.data.svc.cluster.local" in notes
    assert ("mariadb" if flavor == "mariadb" else "mysql") + " --defaults-extra-file=/run/mysqld/root.cnf" in notes


# -- the scripts' MySQL/MariaDB differences, run in dash with stand-ins for the servers' binaries
# (Oracle MySQL cannot run here; MariaDB's members are proven by tests/runtime) -------------------
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

# What a receiver stopped by its source shows in Last_IO_Errno / Last_IO_Error. MySQL 8.x:
# error 13114 ER_SERVER_SOURCE_FATAL_ERROR_READING_BINLOG "Got fatal error %d from source when
# reading data from binary log: '%s'" (MySQL 8.4 error reference) around the source's 1236
# messages (ER_SOURCE_HAS_PURGED_REQUIRED_GTIDS, ER_REPLICA_HAS_MORE_GTIDS_THAN_SOURCE, a
# duplicate server_uuid, a missing first log file); MariaDB keeps 1236 (ER_MASTER_FATAL_ERROR_READING_BINLOG).
MYSQL_PURGED = ("Got fatal error 1236 from source when reading data from binary log: 'Cannot replicate because the "
                "source purged required binary logs. Replicate the missing transactions from elsewhere, or provision "
                "a new replica from backup.'")
MYSQL_ERRANT = ("Got fatal error 1236 from source when reading data from binary log: 'Replica has more GTIDs than the "
                "source has, using the source's SERVER_UUID.'")
MYSQL_UUID = ("Got fatal error 1236 from source when reading data from binary log: 'A replica with the same "
              "server_uuid/server_id as this replica has connected to the source'")
MYSQL_FIRST_LOG = ("Got fatal error 1236 from source when reading data from binary log: 'Could not find first log "
                   "file name in binary log index file'")
MARIADB_PURGED = ("Got fatal error 1236 from master when reading data from binary log: 'Could not find GTID state "
                  "requested by slave in any binlog files. Probably the slave state is too old and required binlog "
                  "files have been purged.'")
MARIADB_ERRANT = ("Got fatal error 1236 from master when reading data from binary log: 'Error: connecting slave "
                  "requested to start from GTID 0-1-9, which is not in the master's binlog'")

IO_FATAL = {
    "mysql": [(13114, MYSQL_PURGED, "purged"), (13114, MYSQL_ERRANT, "errant"), (13114, MYSQL_UUID, "other"),
              (13114, MYSQL_FIRST_LOG, "other"), (1236, MYSQL_PURGED, "purged"), (2003, "Can't connect", None),
              (0, "", None)],
    "mariadb": [(1236, MARIADB_PURGED, "purged"), (1236, MARIADB_ERRANT, "errant"), (13114, MYSQL_PURGED, None),
                (2003, "Can't connect", None), (0, "", None)],
}

STANDINS = {
    # the client: SELECT 1 answers; statements from stdin are recorded (CLONE ... DATA DIRECTORY
    # creates that directory, as the clone does)
    "mysql": """
if [ $# -gt 0 ] && [ "${*##* -e }" != "$*" ]; then printf '%s\\n' "${*##* -e }" >>"$T/sql.log"; echo 1; exit 0; fi
cat >>"$T/sql.log"
dir=$(sed -n "s/.*DATA DIRECTORY = '\\([^']*\\)'.*/\\1/p" "$T/sql.log" | tail -n 1)
[ -z "$dir" ] || [ -n "${CLONE_FAILS:-}" ] || mkdir "$dir"
[ -z "${CLONE_FAILS:-}" ] || { echo "ERROR 3862 (HY000): Clone Donor Error" >&2; exit 1; }
""",
    # the server: --initialize creates the directory (or fails); else it runs until killed
    "mysqld": """
case "$*" in
*--initialize*) [ -z "${INIT_FAILS:-}" ] || { echo "initialize failed" >&2; exit 1; }
  for a; do case $a in --datadir=*) mkdir -p "${a#--datadir=}" ;; esac; done; exit 0 ;;
esac
echo "mysqld stand-in started: $*" >&2
exec sleep 300
""",
    "mysqladmin": "[ -n \"${ADMIN_OK:-}\" ]\n",
}


def _mysql_box(tmp_path):
    box = tmp_path / "box"
    box.mkdir()
    names = {"mysql": ("mysql", "mariadb"), "mysqld": ("mysqld",), "mysqladmin": ("mysqladmin", "mariadb-admin")}
    for key, body in STANDINS.items():
        for name in names[key]:
            (box / name).write_text("#!/bin/dash\n" + body)
            (box / name).chmod(0o755)
    return box


def _sh(chart, tmp_path, body, **env):
    """BODY in dash after lib.sh (which sources the flavor's engine.sh), PATH: the stand-ins,
    then this machine's coreutils."""
    run = tmp_path / "run"
    data = tmp_path / "data"
    run.mkdir(exist_ok=True)
    data.mkdir(exist_ok=True)
    box = tmp_path / "box" if (tmp_path / "box").exists() else _mysql_box(tmp_path)
    script = f'. "$SCRIPTS_DIR/lib.sh"\n{body}\n'
    base = {"PATH": f"{box}:/usr/bin:/bin", "SCRIPTS_DIR": str(chart.path / "files"), "RUN_DIR": str(run),
            "DATA_ROOT": str(data), "CONFIG_FILE": "/dev/null", "POD_NAME": "mysql-1",
            "PEERS": "mysql-0.h.ns mysql-1.h.ns mysql-2.h.ns", "REPLICAS": "3", "SERVER_PORT": "3306",
            "REPL_USER": "repl", "ROOT_PASSWORD": "root-secret", "REPLICATION_PASSWORD": "repl-secret",
            "T": str(tmp_path), **env}
    return subprocess.run(["dash", "-c", script], capture_output=True, text=True, timeout=60, env=base,
                          stdin=subprocess.DEVNULL)


def test_a_fatal_error_from_the_source_is_read_the_way_each_server_reports_it(flavored, tmp_path):
    flavor, chart = flavored
    for errno, message, kind in IO_FATAL[flavor]:
        proc = _sh(chart, tmp_path, 'eng_io_fatal "$ERRNO" "$MSG" || echo none', ERRNO=str(errno), MSG=message)
        assert proc.stdout.strip() == (kind or "none"), (errno, message, proc.stderr)


# follow() from agent.sh, with the replication status and the SQL it runs stubbed: what the agent
# does with a replica whose receiver its source stopped
FOLLOW = """
{agent}
replica_status() {{ rs_source=mysql-0.h.ns rs_io=No rs_sql=Yes rs_io_errno=$ERRNO rs_io_error=$MSG rs_sql_errno=0; }}
peer_sql() {{ echo "uuid:1-5"; }}
sql() {{ echo "$1" >>"$T/sql.log"; echo 1; }}
eng_joinable() {{ ej_problem=; }}
eng_source_sql() {{ :; }}
sql_in() {{ cat >/dev/null; }}
follow mysql-0.h.ns
echo "role=$role"
"""


def _follow(chart, tmp_path, errno, message):
    agent = (chart.path / "files" / "agent.sh").read_text().split("\nwhile :; do\n  tick")[0]
    agent = agent.replace('. "${SCRIPTS_DIR:-/scripts}/lib.sh"', ":")  # _sh sourced it already
    return _sh(chart, tmp_path, FOLLOW.format(agent=agent), ERRNO=str(errno), MSG=message, FAILOVER="0",
               LEASE_SECONDS="10", RENEW_SECONDS="3", SEMI_SYNC_WAIT="1", ROLE_LABEL="chartgen.io/role")


def test_a_replica_that_cannot_replicate_says_why_where_users_look(tmp_path_factory):
    """MySQL 8.4 reports its source's 1236 as 13114: a duplicate server_uuid is neither purged nor
    errant, so nothing is re-cloned, and the reason reaches the log and the readiness probe's
    message (the pod's events) instead of a silent re-pointing every second."""
    chart = chartgen.generate("mysql", "mysql", flavor="mysql", output=tmp_path_factory.mktemp("mysql") / "mysql")
    tmp_path = tmp_path_factory.mktemp("follow")
    proc = _follow(chart, tmp_path, 13114, MYSQL_UUID)
    assert proc.returncode == 0, proc.stderr
    assert "role=none" in proc.stdout
    assert "cannot replicate from mysql-0 (error 13114): Got fatal error 1236" in proc.stderr
    assert not (tmp_path / "data" / "reseed").exists()
    state = (tmp_path / "run" / "role").read_text().splitlines()
    assert state[0] == "none" and "same server_uuid/server_id" in state[1]
    ready = _sh(chart, tmp_path, 'sh "$SCRIPTS_DIR/probe.sh" ready', MAX_LAG="10")
    assert ready.returncode == 1 and "cannot replicate from mysql-0 (error 13114)" in ready.stdout
    # the purged case of the same error number re-clones this member (as 1236 did before)
    tmp_path = tmp_path_factory.mktemp("follow-purged")
    proc = _follow(chart, tmp_path, 13114, MYSQL_PURGED)
    assert proc.returncode == 0, proc.stderr
    assert "source purged required binary logs" in (tmp_path / "data" / "reseed").read_text()


def _seed(chart, tmp_path, **env):
    return _sh(chart, tmp_path, 'server_id=101\neng_seed mysql-0.h.ns; echo "rc=$?"', **env)


def test_a_clone_runs_into_the_final_data_directory_and_leaves_no_password_file(tmp_path_factory):
    """MySQL: CLONE INSTANCE ... DATA DIRECTORY = DATA_DIR (the server later starts there and
    finishes the clone: "Cloning to a Named Directory"), a scratch recipient removed, the root
    password file gone on every path, clone.log written afresh each time."""
    chart = chartgen.generate("mysql", "mysql", flavor="mysql", output=tmp_path_factory.mktemp("mysql") / "mysql")
    tmp_path = tmp_path_factory.mktemp("seed")
    for _ in range(2):
        shutil.rmtree(tmp_path / "data" / "data", ignore_errors=True)
        proc = _seed(chart, tmp_path)
        assert "rc=0" in proc.stdout, proc.stderr
    data = tmp_path / "data"
    assert (data / "data").is_dir() and not (data / "data.new").exists()
    assert f"DATA DIRECTORY = '{data / 'data'}'" in (tmp_path / "sql.log").read_text()
    assert not (tmp_path / "run" / "init.sql").exists()
    assert (tmp_path / "run" / "clone.log").read_text().count("mysqld stand-in started") == 1
    # --initialize of the scratch recipient fails: the password file goes all the same
    proc = _seed(chart, tmp_path, INIT_FAILS="1")
    assert "rc=1" in proc.stdout and "mysqld --initialize failed" in proc.stderr
    assert not (tmp_path / "run" / "init.sql").exists() and not (data / "data").exists()
    # the clone fails: nothing half-cloned is left to start on
    proc = _seed(chart, tmp_path, CLONE_FAILS="1")
    assert "rc=1" in proc.stdout and "CLONE from mysql-0 failed" in proc.stderr
    assert not (data / "data").exists() and not (data / "data.new").exists()


def test_liveness_gives_a_recovering_server_the_startup_budget(flavored, tmp_path, helm):
    """After a seed start.sh starts the server inside the same container (no startup probe
    again): until it first answers, the liveness probe counts it alive while its process runs,
    for the startup probe's budget."""
    flavor, chart = flavored
    env = _env(_containers(helm.template(chart.path, "mysql"))["mysql"])
    assert env["STARTUP_SECONDS"] == "600"  # startupProbe: 5 s x 120
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        run = tmp_path / "run"
        run.mkdir()
        live = 'sh "$SCRIPTS_DIR/probe.sh" live'
        (run / "starting").write_text(f"{sleeper.pid} {int(time.time()) - 30}\n")
        proc = _sh(chart, tmp_path, live, STARTUP_SECONDS="600")
        # the probe's own clock reads a second or two later on a loaded machine
        assert proc.returncode == 0 and re.search(r"is starting \(3[0-5]s of 600s\)", proc.stdout), proc.stdout
        (run / "starting").write_text(f"{sleeper.pid} {int(time.time()) - 700}\n")
        proc = _sh(chart, tmp_path, live, STARTUP_SECONDS="600")
        assert proc.returncode == 1 and re.search(r"has not answered 70[0-5]s after its start", proc.stdout), proc.stdout
        sleeper.kill()
        sleeper.wait()
        (run / "starting").write_text(f"{sleeper.pid} {int(time.time())}\n")
        proc = _sh(chart, tmp_path, live, STARTUP_SECONDS="600")
        assert proc.returncode == 1 and "does not answer" in proc.stdout
        proc = _sh(chart, tmp_path, live, STARTUP_SECONDS="600", ADMIN_OK="1")  # it answers: the mark goes
        assert proc.returncode == 0 and not (run / "starting").exists()
    finally:
        sleeper.kill()
