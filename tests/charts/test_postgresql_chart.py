"""The postgresql chart through the real helm: what is PostgreSQL's own (tests/charts/test_contract.py
holds what every preset keeps: lint matrix, counts, peers, PDB, affinity, secrets, policy,
images' tools, shellcheck, checkov)."""

import base64

import pytest

import chartgen
from chartgen.errors import HelmError, InvalidValueError
from chartgen.versions import pin
from tests.charts.rendered import containers as _containers
from tests.charts.rendered import env as _env
from tests.charts.rendered import first as _kind
from tests.charts.rendered import pod_spec as _pod


@pytest.fixture(scope="module")
def chart(tmp_path_factory):
    return chartgen.generate("postgresql", "pg", output=tmp_path_factory.mktemp("pg") / "pg")


def _conf(objects):
    return _kind(objects, "ConfigMap", "pg-config")["data"]


def test_the_official_image_without_its_entrypoint_and_a_native_kubectl_sidecar(chart, helm):
    objects = helm.template(chart.path, "pg")
    image = pin("POSTGRES_IMAGE")
    assert image.startswith("docker.io/library/postgres:17.")
    assert chart.metadata["appVersion"] == image.rsplit(":", 1)[1]
    c = _containers(objects)
    assert list(c) == ["postgresql", "agent"] and {x["image"] for x in c.values()} == {image}
    # the image's entrypoint would initdb any empty volume (a second cluster on a standby)
    assert c["postgresql"]["command"] == ["/bin/sh", "/scripts/start.sh"]
    assert c["agent"]["command"] == ["/bin/sh", "/scripts/agent.sh"]
    pod = _pod(objects)
    assert pod["shareProcessNamespace"] is True and pod["automountServiceAccountToken"] is False
    (kubectl,) = pod["initContainers"]
    assert kubectl["restartPolicy"] == "Always"
    sts = _kind(objects, "StatefulSet", "pg")
    assert sts["spec"]["podManagementPolicy"] == "Parallel" and sts["spec"]["serviceName"] == "pg-headless"


@pytest.mark.parametrize("n,wait", [(1, "0"), (3, "1"), (5, "2"), (7, "3")])
def test_commits_wait_for_floor_n_over_2_standbys(chart, helm, n, wait):
    objects = helm.template(chart.path, "pg", values={"replicaCount": n})
    env = _env(_containers(objects)["agent"])
    assert env["SYNC_WAIT"] == wait and env["REPLICAS"] == str(n)
    assert len(env["PEERS"].split()) == n
    off = helm.template(chart.path, "pg", values={"replicaCount": n, "synchronous": {"enabled": False}})
    assert _env(_containers(off)["agent"])["SYNC_WAIT"] == "0"


def test_server_settings_replication_rewind_and_no_member_count_a_standby_depends_on(chart, helm):
    three, five = (_conf(helm.template(chart.path, "pg", values={"replicaCount": n}))["postgresql.conf"] for n in (3, 5))
    for line in ("wal_level = replica", "wal_log_hints = on", "hot_standby = on", "synchronous_commit = on",
                 "recovery_target_timeline = 'latest'", "hba_file = '/etc/postgresql/chartgen/pg_hba.conf'",
                 "max_slot_wal_keep_size = '4GB'"):
        assert line in three
    # a standby refuses to recover with a lower max_wal_senders than its primary had: a
    # scale-down must not change it
    assert "max_wal_senders = 20" in three and three == five
    hba = _conf(helm.template(chart.path, "pg"))["pg_hba.conf"]
    assert "local   all          all                          peer" in hba
    assert "host    replication  replicator  all  scram-sha-256" in hba and "trust" not in hba


def test_parameters_are_appended_quoted_and_the_chart_s_own_are_refused(chart, helm):
    objects = helm.template(chart.path, "pg", values={"config": {"parameters": {"work_mem": "16MB", "jit": False,
                                                                               "search_path": "'$user', app"}}})
    conf = _conf(objects)["postgresql.conf"]
    assert "work_mem = '16MB'" in conf and "jit = 'false'" in conf and "search_path = '''$user'', app'" in conf
    with pytest.raises(HelmError) as refused:
        helm.template(chart.path, "pg", values={"config": {"parameters": {"synchronous_standby_names": "*"}}})
    assert "config.parameters.synchronous_standby_names must not be set: the chart sets" in \
        refused.value.__cause__.stderr.decode()
    with pytest.raises(InvalidValueError, match="config.parameters.wal_level must not be set"):
        chartgen.generate("postgresql", "x", values={"config": {"parameters": {"wal_level": "minimal"}}},
                          output="/nonexistent/never")


def test_initdb_scripts_land_in_the_config_map_in_name_order(chart, helm):
    objects = helm.template(chart.path, "pg", values={"initdbScripts": {"b.sql": "SELECT 2;\n", "a.sql": "SELECT 1;\n"}})
    data = _conf(objects)
    assert [k for k in data if k.startswith("initdb-")] == ["initdb-a.sql", "initdb-b.sql"]
    assert data["initdb-a.sql"] == "SELECT 1;\n"
    with pytest.raises(InvalidValueError, match="initdbScripts"):
        chartgen.generate("postgresql", "x", values={"initdbScripts": {"run.sh": "echo"}}, output="/nonexistent/never")


def test_services_by_role_label(chart, helm):
    objects = helm.template(chart.path, "pg")
    members = {"app.kubernetes.io/name": "pg", "app.kubernetes.io/instance": "pg",
               "app.kubernetes.io/component": "member"}
    assert _kind(objects, "Service", "pg-rw")["spec"]["selector"] == {**members, "chartgen.io/role": "primary"}
    assert _kind(objects, "Service", "pg-ro")["spec"]["selector"] == {**members, "chartgen.io/role": "replica"}
    assert _kind(objects, "Service", "pg-r")["spec"]["selector"] == members
    assert "chartgen.io/role" not in _kind(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]


def test_roles_secret_and_passwords_never_on_a_command_line(chart, helm):
    objects = helm.template(chart.path, "pg", values={"auth": {"username": "app", "database": "appdb"}})
    secret = _kind(objects, "Secret", "pg-auth")
    assert set(secret["data"]) == {"postgres-password", "replication-password", "password"}
    assert all(len(base64.b64decode(v)) == 32 for v in secret["data"].values())
    env = _env(_containers(objects)["postgresql"])
    assert env["APP_USER"] == "app" and env["POSTGRES_PASSWORD"] == {
        "secretKeyRef": {"name": "pg-auth", "key": "postgres-password"}}
    mine = helm.template(chart.path, "pg", values={"auth": {"existingSecret": "mine"}})
    assert [o for o in mine if o["kind"] == "Secret"] == []
    lib = (chart.path / "files" / "lib.sh").read_text()
    assert "umask 077" in lib and "PGPASSFILE" in lib and "PGPASSWORD" not in lib


@pytest.mark.parametrize("values,message", [
    ({"switchover": {"timeoutSeconds": 60}}, "must be below terminationGracePeriodSeconds"),
    ({"failover": {"leaseDurationSeconds": 5, "renewIntervalSeconds": 2}}, "at least 2 x renewIntervalSeconds"),
    ({"auth": {"username": "app"}}, "auth.username and auth.database go together"),
    ({"auth": {"replicationUser": "postgres"}}, "must not be postgres"),
])
def test_template_guards_explain(chart, helm, values, message):
    with pytest.raises(HelmError, match=message):
        helm.template(chart.path, "pg", values=values)


def test_notes_say_how_to_connect(chart, helm):
    notes = helm.run(["install", "db", str(chart.path), "--dry-run=client", "--namespace", "data"])
    assert "PostgreSQL with streaming replication: 3 pod(s)" in notes and "a commit waits for 1 standby(s)" in notes
    for svc in ("db-pg-rw.data.svc.cluster.local:5432", "db-pg-ro.data.svc.cluster.local:5432",
                "db-pg-r.data.svc.cluster.local:5432", "db-pg-0.db-pg-headless.data.svc.cluster.local"):
        assert svc in notes
