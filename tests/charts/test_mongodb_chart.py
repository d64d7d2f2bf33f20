"""The mongodb chart through the real helm: what is MongoDB's own (tests/charts/test_contract.py
holds what every preset keeps: lint matrix, counts, peers, PDB, affinity, secrets, policy).

Rendered configuration, FQDN-only member lists over 1/3/5/7 members, the keyfile's path to mode
0400 (prepare.sh run for real in the mongo image's shell and tools), the initiate guard's
inputs, and every script and JavaScript file checked for syntax by dash and Node. No MongoDB
server or image exists on this machine: what mongod does with all this is proven only by the
e2e suite on a cluster that can pull the official image (tests/e2e/test_mongodb.py)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

import chartgen
from chartgen.errors import HelmError
from chartgen.topology import Peers
from chartgen.versions import pin
from tests.charts.rendered import containers
from tests.charts.rendered import env as _env
from tests.charts.rendered import first as _kind
from tests.charts.rendered import mounts as _mounts
from tests.charts.rendered import pod_spec as _pod
from tests.infra import roots
from tests.infra.images import tools

MARKER = "/data/db/.chartgen-empty-volume"


@pytest.fixture(scope="module")
def mongo_chart(tmp_path_factory):
    return chartgen.generate("mongodb", "mongodb", output=tmp_path_factory.mktemp("charts") / "mongodb")


def _containers(objects):
    return containers(objects, init=True)


# -- the workload -------------------------------------------------------------------------------
def test_statefulset_runs_mongod_directly_with_replset_keyfile_and_auth(mongo_chart, helm):
    objects = helm.template(mongo_chart.path, "mongodb")
    sts = _kind(objects, "StatefulSet", "mongodb")
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    headless = _kind(objects, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    pod = _pod(objects)
    c = _containers(objects)
    assert [x["name"] for x in pod["initContainers"]] == ["prepare", "kubectl"]
    assert [x["name"] for x in pod["containers"]] == ["mongod", "agent"]
    mongod = c["mongod"]
    assert mongod["image"] == c["agent"]["image"] == c["prepare"]["image"] == pin("MONGO_IMAGE")
    assert mongod["command"] == ["/bin/sh", "/scripts/mongod.sh"]  # exec mongod, after a resync's wipe
    assert mongod["args"] == ["--replSet=rs0", "--port=27017", "--bind_ip_all", "--dbpath=/data/db",
                              "--keyFile=/run/mongodb/keyfile", "--auth"]
    assert _mounts(mongod)["/data/db"]["name"] == "data"  # the image's VOLUME path: nothing shadows it
    assert mongod["readinessProbe"]["exec"]["command"] == ["/bin/sh", "/scripts/probe.sh", "ready", "9"]
    assert mongod["livenessProbe"]["exec"]["command"] == ["/bin/sh", "/scripts/probe.sh", "live", "9"]
    assert mongod["lifecycle"]["preStop"]["exec"]["command"] == ["/bin/sh", "/scripts/prestop.sh"]
    assert pod["terminationGracePeriodSeconds"] == 60 and _env(mongod)["PRESTOP_TIMEOUT"] == "40"
    assert pod["securityContext"]["runAsUser"] == 999 and pod["securityContext"]["fsGroup"] == 999
    assert mongosh_app_version(mongo_chart) == pin("MONGO_IMAGE").rsplit(":", 1)[1]


def mongosh_app_version(chart):
    return chart.metadata["appVersion"]


def test_the_kubectl_proxy_is_a_native_sidecar_and_the_only_api_token_holder(mongo_chart, helm):
    """The departing pod's preStop reads the StatefulSet: its proxy must outlive the mongod container."""
    objects = helm.template(mongo_chart.path, "mongodb")
    pod = _pod(objects)
    c = _containers(objects)
    assert pod["shareProcessNamespace"] is True and pod["automountServiceAccountToken"] is False
    kubectl = c["kubectl"]
    assert kubectl["restartPolicy"] == "Always"  # an init container that keeps running: a native sidecar
    assert kubectl["image"] == pin("KUBECTL_IMAGE")
    assert kubectl["command"] == ["/bin/kubectl", "proxy", "--address=127.0.0.1", "--port=8001"]
    assert "kube-api-access" in {m["name"] for m in kubectl["volumeMounts"]}
    for name in ("prepare", "mongod", "agent"):
        assert "kube-api-access" not in {m["name"] for m in c[name]["volumeMounts"]}, name
    # the agent and the preStop hook run the sidecar's binary through /proc/<pid>/exe: no copy
    assert "/opt/kubectl" not in _mounts(c["agent"]) and "/opt/kubectl" not in _mounts(c["mongod"])


def test_the_agent_role_allows_exactly_what_it_does(mongo_chart, helm):
    objects = helm.template(mongo_chart.path, "mongodb", values={"replicaCount": 5})
    rules = _kind(objects, "Role")["rules"]
    assert rules == [
        {"apiGroups": [""], "resources": ["pods"], "resourceNames": [f"mongodb-{i}" for i in range(5)],
         "verbs": ["get", "patch"]},
        {"apiGroups": ["apps"], "resources": ["statefulsets"], "resourceNames": ["mongodb"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["mongodb-topology", "mongodb-replset"],
         "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["mongodb-replset"], "verbs": ["patch"]},
    ]
    binding = _kind(objects, "RoleBinding")
    assert binding["subjects"][0]["name"] == _pod(objects)["serviceAccountName"]
    off = helm.template(mongo_chart.path, "mongodb", values={"rbac": {"create": False}})
    assert not [o for o in off if o["kind"] in ("Role", "RoleBinding")]


def test_primary_service_selects_the_role_label_and_read_service_every_member(mongo_chart, helm):
    objects = helm.template(mongo_chart.path, "mongodb")
    members = {"app.kubernetes.io/name": "mongodb", "app.kubernetes.io/instance": "mongodb",
               "app.kubernetes.io/component": "member"}
    assert _kind(objects, "Service", "mongodb-primary")["spec"]["selector"] == {**members, "chartgen.io/role": "primary"}
    assert _kind(objects, "Service", "mongodb-read")["spec"]["selector"] == members
    assert _kind(objects, "Service", "mongodb-read")["spec"]["ports"] == [
        {"name": "mongodb", "port": 27017, "targetPort": "mongodb"}]
    assert _env(_containers(objects)["agent"])["ROLE_LABEL"] == "chartgen.io/role"
    assert "chartgen.io/role" not in _kind(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]


# -- members by FQDN only ----------------------------------------------------------------------
IP = re.compile(r"\b\d{1,3}(\.\d{1,3}){3}\b")


@pytest.mark.parametrize("n", [1, 3, 5, 7])
@pytest.mark.parametrize("release,namespace,domain", [("mongodb", "default", "cluster.local"),
                                                      ("orders", "data", "k8s.example")])
def test_every_member_list_is_the_pods_fqdns(mongo_chart, helm, n, release, namespace, domain):
    objects = helm.template(mongo_chart.path, release, namespace, {"replicaCount": n, "clusterDomain": domain})
    sts = _kind(objects, "StatefulSet")
    fullname = release if "mongodb" in release else f"{release}-mongodb"
    assert sts["metadata"]["name"] == fullname and sts["spec"]["replicas"] == n
    peers = Peers(sts["metadata"]["name"], sts["spec"]["serviceName"], namespace, domain)
    want = peers.fqdns(n)
    topology = _kind(objects, "ConfigMap", f"{fullname}-topology")["data"]
    assert topology == {"REPLICAS": str(n), "PEERS": " ".join(want)}
    test_pod = _kind(objects, "Pod", f"{fullname}-test")
    assert _env(test_pod["spec"]["containers"][0])["PEERS"].split() == want
    for c in _containers(objects).values():  # the members read PEERS from the topology, not the pod template
        assert "PEERS" not in _env(c)
        assert not IP.search(str(c.get("args", [])))
    notes = helm.run(["install", release, str(mongo_chart.path), "--dry-run=client", "--namespace", namespace,
                      "--set", f"replicaCount={n}", "--set", f"clusterDomain={domain}"])
    hosts = ",".join(f"{f}:27017" for f in want)
    assert f"mongodb://root:<password>@{hosts}/?replicaSet=rs0&authSource=admin" in notes
    assert not IP.search(notes.split("NOTES:", 1)[1])


def test_topology_is_outside_the_pod_template_so_scaling_restarts_no_member(mongo_chart, helm):
    three = helm.template(mongo_chart.path, "mongodb", values={"replicaCount": 3})
    five = helm.template(mongo_chart.path, "mongodb", values={"replicaCount": 5})
    assert _kind(three, "StatefulSet")["spec"]["template"] == _kind(five, "StatefulSet")["spec"]["template"]
    for c in ("mongod", "agent"):
        assert _containers(three)[c]["envFrom"] == [{"configMapRef": {"name": "mongodb-topology"}}]


# -- keyfile ----------------------------------------------------------------------------------------
def test_keyfile_goes_from_the_secret_to_memory_with_mode_0400(mongo_chart, helm):
    objects = helm.template(mongo_chart.path, "mongodb")
    volumes = {v["name"]: v for v in _pod(objects)["volumes"]}
    assert volumes["keyfile"]["secret"] == {"secretName": "mongodb-auth", "defaultMode": 0o400,
                                            "items": [{"key": "mongodb-replica-set-key", "path": "keyfile"}]}
    assert volumes["run"]["emptyDir"]["medium"] == "Memory"
    c = _containers(objects)
    env = _env(c["prepare"])
    assert env["KEYFILE_SECRET"] == "/secret/keyfile" and _mounts(c["prepare"])["/secret"]["name"] == "keyfile"
    assert env["KEYFILE"] == "/run/mongodb/keyfile" and _mounts(c["prepare"])["/run/mongodb"]["name"] == "run"
    assert "--keyFile=/run/mongodb/keyfile" in c["mongod"]["args"]
    assert _mounts(c["mongod"])["/run/mongodb"]["readOnly"] is True
    assert "/secret" not in _mounts(c["mongod"])  # mongod never sees the group-readable copy
    key = base64.b64decode(_kind(objects, "Secret", "mongodb-auth")["data"]["mongodb-replica-set-key"]).decode()
    assert 6 <= len(key) <= 1024 and re.fullmatch(r"[A-Za-z0-9+/=]+", key)  # MongoDB's keyfile rule


def _prepare(chart, tmp_path, data_entries=(), marker=False):
    """files/prepare.sh as the init container runs it: dash and exactly the mongo image's tools
    (tests/images), a Secret file as the kubelet leaves it with an fsGroup (0640)."""
    secret = tmp_path / "secret"
    secret.mkdir(exist_ok=True)
    (secret / "keyfile").write_text("c2VjcmV0a2V5ZmlsZQ")
    os.chmod(secret / "keyfile", 0o640)
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for entry in data_entries:
        (data / entry).mkdir() if entry == "lost+found" else (data / entry).write_text("x")
    if marker:
        (data / ".chartgen-empty-volume").write_text("")
    proc = roots.run("mongo", ["/bin/sh", "/scripts/prepare.sh"], timeout=30,
                     volumes={"/scripts": chart.path / "files", "/secret": secret, "/run/mongodb": run, "/data/db": data},
                     env={"SCRIPTS_DIR": "/scripts", "KEYFILE_SECRET": "/secret/keyfile",
                          "KEYFILE": "/run/mongodb/keyfile", "DATA_DIR": "/data/db",
                          "MARKER": "/data/db/.chartgen-empty-volume"})
    assert proc.returncode == 0, proc.stderr
    return run / "keyfile", data / ".chartgen-empty-volume", proc.stderr


def test_prepare_copies_the_keyfile_to_mode_0400_and_again_on_a_restart(mongo_chart, tmp_path):
    keyfile, _, _ = _prepare(mongo_chart, tmp_path)
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o400  # mongod refuses any group or other bit
    assert keyfile.read_text() == "c2VjcmV0a2V5ZmlsZQ"
    keyfile, _, _ = _prepare(mongo_chart, tmp_path)  # the memory volume outlives a container restart
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o400 and not (tmp_path / "run" / "keyfile.tmp").exists()


# -- the initiate guard's inputs --------------------------------------------------------------------
@pytest.mark.parametrize("entries,marked", [((), True), (("lost+found",), True), (("WiredTiger",), False),
                                            (("lost+found", "mongod.lock"), False), ((".hidden",), False)])
def test_prepare_marks_only_an_empty_data_directory(mongo_chart, tmp_path, entries, marked):
    _, marker, log = _prepare(mongo_chart, tmp_path, entries)
    assert marker.exists() is marked
    assert ("is empty: marked" in log) is marked


def test_a_marker_is_kept_until_the_agent_sees_a_configuration(mongo_chart, tmp_path):
    """Pod 0 deleted before it could initiate: its volume now holds mongod's files, and it must
    still be allowed to initiate (the agent removes the marker only once it holds a configuration)."""
    _, marker, _ = _prepare(mongo_chart, tmp_path, ("WiredTiger", "mongod.lock"), marker=True)
    assert marker.exists()


def test_the_guard_reads_the_marker_record_and_peers_where_they_are(mongo_chart, helm):
    objects = helm.template(mongo_chart.path, "mongodb")
    c = _containers(objects)
    # the same marker path, on the data volume, for the init container that writes it and the
    # agent that reads and removes it
    assert _env(c["prepare"])["MARKER"] == _env(c["agent"])["MARKER"] == MARKER
    assert _mounts(c["prepare"])["/data/db"]["name"] == _mounts(c["agent"])["/data/db"]["name"] == "data"
    agent = _env(c["agent"])
    assert agent["RECORD"] == "mongodb-replset" and agent["TOPOLOGY"] == "mongodb-topology"
    assert agent["STATEFULSET"] == "mongodb" and agent["API_PROXY"] == "http://127.0.0.1:8001"
    # the durable record lives outside every volume, and the chart declares no data in it: an
    # upgrade never erases the id the agent wrote
    record = _kind(objects, "ConfigMap", "mongodb-replset")
    assert "data" not in record and "helm.sh/resource-policy" not in record["metadata"].get("annotations", {})


# -- secrets -------------------------------------------------------------------------------------
def test_generated_secret_root_password_keyfile_and_optional_app_password(mongo_chart, helm):
    objects = helm.template(mongo_chart.path, "mongodb")
    secret = _kind(objects, "Secret", "mongodb-auth")
    assert sorted(secret["data"]) == ["mongodb-replica-set-key", "mongodb-root-password"]
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    for name in ("mongod", "agent"):
        env = _env(_containers(objects)[name])
        assert env["MONGODB_ROOT_PASSWORD"] == {"secretKeyRef": {"name": "mongodb-auth", "key": "mongodb-root-password"}}
        assert "APP_USER" not in env
    app = helm.template(mongo_chart.path, "mongodb", values={"auth": {"username": "shop", "database": "orders"}})
    assert sorted(_kind(app, "Secret")["data"]) == ["mongodb-password", "mongodb-replica-set-key",
                                                     "mongodb-root-password"]
    env = _env(_containers(app)["agent"])
    assert env["APP_USER"] == "shop" and env["APP_DATABASE"] == "orders"
    assert env["MONGODB_PASSWORD"] == {"secretKeyRef": {"name": "mongodb-auth", "key": "mongodb-password"}}


def test_existing_secret_is_used_instead(mongo_chart, helm):
    values = {"auth": {"existingSecret": "mine", "rootPasswordKey": "root", "replicaSetKeyKey": "key"}}
    objects = helm.template(mongo_chart.path, "mongodb", values=values)
    assert not [o for o in objects if o["kind"] == "Secret"]
    assert _env(_containers(objects)["mongod"])["MONGODB_ROOT_PASSWORD"] == {"secretKeyRef": {"name": "mine", "key": "root"}}
    keyfile = next(v for v in _pod(objects)["volumes"] if v["name"] == "keyfile")
    assert keyfile["secret"]["secretName"] == "mine" and keyfile["secret"]["items"][0]["key"] == "key"


def test_no_password_on_a_command_line(mongo_chart, helm):
    """Passwords reach mongo.js as environment variables and go to mongod in its wire protocol;
    no container argument expands one ($(VAR)), and no shell script touches one."""
    objects = helm.template(mongo_chart.path, "mongodb", values={"auth": {"username": "a", "database": "b"}})
    for obj in objects:
        if obj["kind"] not in ("StatefulSet", "Pod"):
            continue
        pod = obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]
        for c in pod.get("initContainers", []) + pod["containers"]:
            argv = " ".join(c.get("command", []) + c.get("args", []))
            assert "$(" not in argv and "PASSWORD" not in argv, c["name"]
    for script in (mongo_chart.path / "files").glob("*.sh"):
        assert "PASSWORD" not in script.read_text(), script.name
    js = (mongo_chart.path / "files" / "mongo.js").read_text()
    assert "child_process" not in js and "env.MONGODB_ROOT_PASSWORD" in js


# -- rendered configuration ---------------------------------------------------------------------
def test_config_ships_the_tested_javascript_and_quiet_mongosh(mongo_chart, helm):
    config = _kind(helm.template(mongo_chart.path, "mongodb"), "ConfigMap", "mongodb-config")["data"]
    for name in ("mongo.js", "decide.js"):
        assert config[name] == (mongo_chart.path / "files" / name).read_text(), name
    assert "disableLogging: true" in config["mongosh.conf"] and "forceDisableTelemetry: true" in config["mongosh.conf"]
    mounts = _mounts(_containers(helm.template(mongo_chart.path, "mongodb"))["agent"])
    assert mounts["/etc/mongosh.conf"] == {"name": "js", "mountPath": "/etc/mongosh.conf", "subPath": "mongosh.conf",
                                           "readOnly": True}


def test_mongod_settings_reach_its_command_line(mongo_chart, helm):
    values = {"replicaSet": {"name": "orders"}, "service": {"port": 27018},
              "mongod": {"wiredTigerCacheSizeGB": 1.5, "extraFlags": ["--setParameter=diagnosticDataCollectionEnabled=false"]}}
    objects = helm.template(mongo_chart.path, "mongodb", values=values)
    args = _containers(objects)["mongod"]["args"]
    assert args[:2] == ["--replSet=orders", "--port=27018"]
    assert args[-2:] == ["--wiredTigerCacheSizeGB=1.5", "--setParameter=diagnosticDataCollectionEnabled=false"]
    assert _env(_containers(objects)["agent"])["REPLICA_SET"] == "orders"


@pytest.mark.parametrize("values,why", [
    ({"replicaCount": 9}, "at most 7 voting members"),
    ({"preStop": {"timeoutSeconds": 55}}, "terminationGracePeriodSeconds-10"),
    ({"preStop": {"catchUpSeconds": 40}}, "below preStop.timeoutSeconds"),
    ({"auth": {"username": "app"}}, "set both"),
])
def test_templates_refuse_what_cannot_work_and_say_why(mongo_chart, helm, values, why):
    args = ["template", "x", str(mongo_chart.path), "--skip-schema-validation"]
    for key, value in values.items():
        for sub, v in (value.items() if isinstance(value, dict) else [(None, value)]):
            args += ["--set", f"{key}.{sub}={v}" if sub else f"{key}={v}"]
    with pytest.raises(HelmError, match=why):
        helm.run(args)


def test_schema_refuses_more_than_seven_voters(mongo_chart, helm):
    with pytest.raises(HelmError) as err:
        helm.template(mongo_chart.path, "mongodb", values={"replicaCount": 9})
    assert "at '/replicaCount'" in err.value.__cause__.stderr.decode()


def test_helm_test_pod_checks_the_set(mongo_chart, helm):
    objects = helm.template(mongo_chart.path, "mongodb", "db", values={"replicaCount": 5})
    pod = _kind(objects, "Pod", "mongodb-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["containers"][0]["command"] == ["/bin/sh", "/scripts/test-cluster.sh"]
    env = _env(pod["spec"]["containers"][0])
    assert env["REPLICAS"] == "5" and len(env["PEERS"].split()) == 5 and env["REPLICA_SET"] == "rs0"
    assert pod["spec"]["automountServiceAccountToken"] is False


# -- the scripts ---------------------------------------------------------------------------------
def test_every_script_parses_in_dash(mongo_chart):
    """/bin/sh of the mongo image is dash: every script the chart ships parses there."""
    scripts = sorted((mongo_chart.path / "files").glob("*.sh"))
    assert {s.name for s in scripts} >= {"common.sh", "lib.sh", "prepare.sh", "agent.sh", "probe.sh", "prestop.sh",
                                         "test-cluster.sh", "mongod.sh"}
    for script in scripts:
        proc = subprocess.run(["dash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script.name}: {proc.stderr}"


def test_every_javascript_file_parses_in_node(mongo_chart):
    node = shutil.which("node")
    assert node, "node is missing: the chart's mongosh JavaScript is checked with it"
    files = sorted((mongo_chart.path / "files").glob("*.js"))
    assert {f.name for f in files} == {"mongo.js", "decide.js"}
    for js in files:
        proc = subprocess.run([node, "--check", str(js)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{js.name}: {proc.stderr}"


# what the scripts call besides shell builtins (kubectl is the sidecar's own binary, copied)
SCRIPT_TOOLS = ["mongosh", "mongod", "timeout", "env", "date", "sed", "tr", "cp", "mv", "chmod", "rm"]


def test_the_scripts_call_only_what_the_mongo_image_holds(mongo_chart):
    image = tools("MONGO_IMAGE")
    for tool in SCRIPT_TOOLS:
        image.resolve(tool)  # raises MissingTool
    text = "\n".join(p.read_text() for p in (mongo_chart.path / "files").glob("*.sh"))
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    for absent in ("curl", "wget", "nc", "python3", "socat"):  # not in the image (tests/images/manifest.yaml)
        assert not re.search(rf"(^|[\s;|&(]){absent}\s", code), f"a script calls {absent}"


def _run(chart, script, *args, timeout=30, **env):
    return roots.run("mongo", ["/bin/sh", f"/scripts/{script}", *args], timeout=timeout,
                     volumes={"/scripts": chart.path / "files"},
                     env={"SCRIPTS_DIR": "/scripts", "JS_DIR": "/nonexistent", "POD_NAME": "mongodb-1",
                          "PEERS": "mongodb-0.h.ns mongodb-1.h.ns", **env})


def test_a_probe_fails_and_says_why_when_mongosh_cannot_answer(mongo_chart):
    """With the image's shell and tools but no mongod (none exists here): the probe neither
    passes nor hangs, and it reports what went wrong; a wrong check name is a usage error."""
    for check in ("live", "ready"):
        proc = _run(mongo_chart, "probe.sh", check, "2")
        assert proc.returncode == 1 and "mongosh" in proc.stdout, proc
    assert _run(mongo_chart, "probe.sh", "alive").returncode == 2


def test_prestop_never_holds_a_pod_when_neither_mongod_nor_the_api_answer(mongo_chart, tmp_path):
    import time

    t0 = time.monotonic()
    proc = _run(mongo_chart, "prestop.sh", PRESTOP_TIMEOUT="5", STATEFULSET="mongodb",
                API_PROXY="http://127.0.0.1:1", POD_NAMESPACE="ns")
    assert proc.returncode == 0 and time.monotonic() - t0 < 10, proc


# -- the agent's shell loop (agent.sh) and mongod.sh, in dash with the mongo image's tools ----------
def _root(chart, tmp_path, extra: dict[str, str], volumes: dict | None = None) -> roots.ContainerRoot:
    """A root of the mongo image's stand-in (exactly its tools) plus EXTRA in /usr/local/bin
    (name -> a dash script): what the image has that nothing here stands in for (mongosh,
    mongod, the kubectl sidecar's binary); the chart's files at /scripts, TMP_PATH at /t."""
    files = {f"/usr/local/bin/{name}": ("#!/bin/dash\n" + body, 0o755) for name, body in extra.items()}
    return roots.ContainerRoot("mongo", {"/scripts": chart.path / "files", "/t": tmp_path, **(volumes or {})},
                               files=files).__enter__()


def _popen(root: roots.ContainerRoot, argv: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", **env}
    proc = subprocess.Popen(["env", "-i", *(f"{k}={v}" for k, v in env.items()), *root.command(argv)], text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    proc.root = root
    return proc


def _agent(root, **env):
    data = root.host_path("/t") / "data"
    data.mkdir(exist_ok=True)
    base = {"SCRIPTS_DIR": "/scripts", "JS_DIR": "/scripts",
            "POD_NAME": "mongodb-1", "PEERS": "mongodb-0.h.ns mongodb-1.h.ns mongodb-2.h.ns", "PORT": "27017",
            "REPLICA_SET": "rs0", "INTERVAL": "60", "ROLE_LABEL": "chartgen.io/role", "STATEFULSET": "mongodb",
            "TOPOLOGY": "mongodb-topology", "RECORD": "mongodb-replset", "MARKER": "/t/data/.chartgen-empty-volume",
            "RESYNC_MARKER": "/t/data/.chartgen-resync", "API_PROXY": "http://127.0.0.1:1", "POD_NAMESPACE": "ns",
            "TMPDIR": "/t", "HOME": "/t", **env}
    return _popen(root, ["/bin/sh", "/scripts/agent.sh"], base, start_new_session=True)


def _stop(proc) -> str:
    """SIGTERM to the agent; then whatever is left of its session (pause's sleep) goes. Its stderr."""
    import signal

    proc.terminate()
    proc.wait(timeout=10)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.root.close()
    return proc.stderr.read()


def _wait_for(path: Path, text: str, timeout: float = 60) -> str:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = path.read_text() if path.exists() else ""
        if text in got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in {path}: {path.read_text() if path.exists() else ''}")


def test_the_agent_stops_at_once_on_sigterm_while_mongosh_runs(mongo_chart, tmp_path):
    """A shell defers a trap while a foreground command runs: the agent, waiting in `$(mongosh
    ...)` (up to 90 s), would outlive the pod's grace period. It waits for mongosh in the
    background instead, and its trap stops mongosh too. The real mongosh (tests/js) runs the
    real mongo.js against a port that accepts connections and never answers."""
    import signal
    import socket
    import time

    from tests.jsdeps import MONGOSH, node_modules

    node_modules()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    # the real mongosh: tests/js and this machine's node, mounted into the root
    root = _root(mongo_chart, tmp_path, {"mongosh": f'exec /opt/js/node_modules/.bin/{MONGOSH.name} "$@"\n'},
                 {"/opt/js": MONGOSH.parents[2], "/usr/local/bin/node": Path(shutil.which("node")).resolve()})
    proc = _agent(root, PORT=str(port))
    try:
        conns = []
        silent.settimeout(60)
        conns.append(silent.accept())  # mongosh is connecting: the agent's round is under way
        t0 = time.monotonic()
        os.killpg(proc.pid, 0)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        silent.close()
        root.close()
    assert proc.returncode == 0 and took < 20, f"the agent took {took:.1f} s to stop (mongosh's round lasts up to 90 s)"
    for _ in range(50):  # mongosh got SIGTERM from timeout: it exits too (the kubelet would kill it anyway)
        left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"processes of the agent's session still run 5 s later: {left}"


KUBECTL = """
printf '%s\\n' "$*" >>"$KUBE_LOG"
case "$*" in
*" get statefulset/"*) printf '3\\n%s\\n\\n' "$PEERS" ;;
esac
"""


def test_a_new_primary_takes_the_primary_label_from_the_others_before_it_labels_itself(mongo_chart, tmp_path):
    """After a failover that deletes no pod (a frozen or cut-off primary), the old primary's
    agent cannot clear its label: the new primary's agent does, before it labels itself, so the
    primary Service never selects two pods. mongosh and kubectl are stand-ins here (what the
    agent does with their answers is under test; mongo.js is replayed in tests/unit)."""
    root = _root(mongo_chart, tmp_path, {"mongosh": "case $ACTION in agent) printf 'role primary\\nmember yes\\n' ;; esac\n",
                                         "kubectl": KUBECTL})
    log = tmp_path / "kube.log"
    proc = _agent(root, KUBECTL_BIN="/usr/local/bin/kubectl", KUBE_LOG="/t/kube.log")
    try:
        calls = _wait_for(log, "label --overwrite pod mongodb-1 chartgen.io/role=primary").splitlines()
    finally:
        _stop(proc)
    patches = [i for i, c in enumerate(calls) if " patch pod " in c]
    label = next(i for i, c in enumerate(calls) if "label --overwrite pod mongodb-1" in c)
    assert [calls[i].split(" patch pod ")[1].split()[0] for i in patches] == ["mongodb-0", "mongodb-2"]
    assert max(patches) < label
    assert '"op":"test","path":"/metadata/labels/chartgen.io~1role","value":"primary"' in calls[patches[0]]


def test_a_stale_member_writes_the_resync_marker_and_shuts_mongod_down(mongo_chart, tmp_path):
    mongosh = ("case $ACTION in\n"
               "agent) printf 'role other\\nmember yes\\nstale 3\\nresync too stale to catch up for 3 rounds\\n' ;;\n"
               "shutdown) printf 'log mongod shut down\\n' ; echo shutdown >>\"$KUBE_LOG\" ;;\nesac\n")
    root = _root(mongo_chart, tmp_path, {"mongosh": mongosh, "kubectl": KUBECTL})
    log = tmp_path / "kube.log"
    proc = _agent(root, KUBECTL_BIN="/usr/local/bin/kubectl", KUBE_LOG="/t/kube.log")
    try:
        _wait_for(log, "shutdown")
        _wait_for(log, "label --overwrite pod mongodb-1 chartgen.io/role=other")
    finally:
        err = _stop(proc)
    assert (tmp_path / "data" / ".chartgen-resync").exists()
    assert "too stale to catch up for 3 rounds" in err and "mongod shut down" in err


def _mongod_sh(chart, tmp_path, entries, marker):
    data = tmp_path / "data"
    data.mkdir(parents=True)
    for entry in entries:
        (data / entry).mkdir() if entry in ("lost+found", "journal") else (data / entry).write_text("x")
    if marker:
        (data / ".chartgen-resync").write_text("")
    root = _root(chart, tmp_path, {"mongod": 'printf "%s\\n" "$@" >"$ARGS"\n'})
    proc = _popen(root, ["/bin/sh", "/scripts/mongod.sh", "--replSet=rs0", "--port=27017"],
                  {"SCRIPTS_DIR": "/scripts", "DATA_DIR": "/t/data", "RESYNC_MARKER": "/t/data/.chartgen-resync",
                   "ARGS": "/t/args"})
    proc.stdout, proc.stderr = proc.communicate(timeout=30)
    root.close()
    assert proc.returncode == 0, proc.stderr
    return sorted(p.name for p in data.iterdir()), (tmp_path / "args").read_text().split(), proc.stderr


def test_mongod_sh_empties_the_data_directory_only_when_the_agent_asked(mongo_chart, tmp_path):
    entries = ("WiredTiger", "collection-0.wt", ".hidden", "journal", "lost+found")
    left, args, log = _mongod_sh(mongo_chart, tmp_path / "a", entries, marker=True)
    assert left == ["lost+found"] and "emptying" in log
    assert args == ["--replSet=rs0", "--port=27017"]  # then mongod itself, with the chart's arguments
    left, args, log = _mongod_sh(mongo_chart, tmp_path / "b", entries, marker=False)
    assert left == sorted(entries) and log == ""
