"""The redis chart through the real helm: what is Redis' own (tests/charts/test_contract.py holds
what every preset keeps: lint matrix, counts, peers, PDB, affinity, secrets, policy)."""

import base64
import re
import subprocess

import pytest

import chartgen
from chartgen.errors import HelmError
from chartgen.topology import Peers, quorum
from chartgen.versions import pin
from tests.charts.rendered import containers as _containers
from tests.charts.rendered import env as _env
from tests.charts.rendered import first as _kind


@pytest.fixture(scope="module")
def redis_chart(tmp_path_factory):
    return chartgen.generate("redis", "redis", output=tmp_path_factory.mktemp("charts") / "redis")


@pytest.mark.parametrize("n,q", [(3, 1), (5, 2), (7, 3), (3, 4), (1, 2)])
def test_schema_refuses_a_quorum_that_is_not_a_majority(redis_chart, helm, n, q):
    with pytest.raises(HelmError) as err:
        helm.template(redis_chart.path, "redis", values={"replicaCount": n, "sentinel": {"quorum": q}})
    full = err.value.__cause__.stderr.decode()  # helm's whole message, not just its first lines
    assert "at '/sentinel/quorum'" in full and "don't meet the specifications of the schema" in full
    allowed = [0, *range(n // 2 + 1, n + 1)]
    assert f"value must be one of {', '.join(map(str, allowed))}" in full
    words = ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}"
    assert f"sentinel.quorum must be {words} with replicaCount={n}: 0 for a majority" in full


@pytest.mark.parametrize("n,q", [(3, 2), (3, 3), (5, 3), (5, 5), (7, 4), (1, 1)])
def test_schema_accepts_majority_quorums(redis_chart, helm, n, q):
    objects = helm.template(redis_chart.path, "redis", values={"replicaCount": n, "sentinel": {"quorum": q}})
    assert _env(_containers(objects)["sentinel"])["QUORUM"] == str(q)


@pytest.mark.parametrize("n,q,expect", [(7, 3, "the quorum must be a majority"),
                                          (17, 9, "replicaCount=17: at most 7 members"),
                                          (4, 3, "4 members tolerate 1 failure.*use 3 or 5")])
def test_template_guards_explain_without_the_schema(redis_chart, helm, n, q, expect):
    """With the schema skipped the templates still refuse, and say why."""
    args = ["template", "x", str(redis_chart.path), "--skip-schema-validation",
            "--set", f"replicaCount={n}", "--set", f"sentinel.quorum={q}"]
    with pytest.raises(HelmError, match=expect):
        helm.run(args)


@pytest.mark.parametrize("n", [1, 3, 5, 7])
def test_default_quorum_is_a_majority(redis_chart, helm, n):
    objects = helm.template(redis_chart.path, "redis", values={"replicaCount": n})
    assert _env(_containers(objects)["sentinel"])["QUORUM"] == str(quorum(n))
    config = _kind(objects, "ConfigMap", "redis-config")["data"]["redis.conf"]
    assert f"min-replicas-to-write {min(1, n - 1)}" in config


def test_generation_refuses_a_minority_quorum():
    with pytest.raises(chartgen.errors.InvalidValueError, match="quorum"):
        chartgen.generate("redis", "r", values={"sentinel": {"quorum": 1}}, output="/nonexistent/never-written")


@pytest.mark.parametrize("n", [1, 3, 5, 7])
@pytest.mark.parametrize("release,namespace,domain", [("redis", "default", "cluster.local"),
                                                      ("cache", "data", "k8s.example")])
def test_peer_fqdns_match_python_topology(redis_chart, helm, n, release, namespace, domain):
    objects = helm.template(redis_chart.path, release, namespace, {"replicaCount": n, "clusterDomain": domain})
    sts = _kind(objects, "StatefulSet")
    fullname = release if "redis" in release else f"{release}-redis"
    assert sts["metadata"]["name"] == f"{fullname}-node"
    assert sts["spec"]["serviceName"] == f"{fullname}-headless"
    peers = Peers(sts["metadata"]["name"], sts["spec"]["serviceName"], namespace, domain)
    for name, container in _containers(objects).items():
        if name != "kubectl":  # the API proxy sidecar has no scripts
            assert _env(container)["PEERS"].split() == peers.fqdns(n), name
    assert sts["spec"]["replicas"] == n
    # the Role lets the agents label exactly these pods
    role = _kind(objects, "Role")
    assert role["rules"][0]["resourceNames"] == [peers.pod(i) for i in range(n)]
    assert role["rules"][0]["verbs"] == ["get", "patch"]
    notes = helm.run(["install", release, str(redis_chart.path), "--dry-run=client", "--namespace", namespace,
                      "--set", f"replicaCount={n}", "--set", f"clusterDomain={domain}"])
    for fqdn in peers.fqdns(n):
        assert fqdn in notes


def test_statefulset_contract(redis_chart, helm):
    objects = helm.template(redis_chart.path, "redis")
    sts = _kind(objects, "StatefulSet", "redis-node")
    spec = sts["spec"]
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["data"]
    headless = _kind(objects, "Service", spec["serviceName"])
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False  # only the kubectl sidecar gets a token
    c = _containers(objects)
    assert list(c) == ["redis", "sentinel", "agent", "kubectl"]
    assert c["redis"]["image"] == c["sentinel"]["image"] == pin("REDIS_IMAGE")
    assert c["redis"]["command"] == ["/bin/sh", "/scripts/start-redis.sh"]
    assert c["sentinel"]["command"] == ["/bin/sh", "/scripts/start-sentinel.sh"]
    assert c["redis"]["readinessProbe"]["exec"]["command"][-1] == "redis-ready"  # role and link status
    assert c["redis"]["lifecycle"]["preStop"]["exec"]["command"][-1] == "redis"
    assert "kube-api-access" in {m["name"] for m in c["kubectl"]["volumeMounts"]}
    assert all("kube-api-access" not in {m["name"] for m in c[n]["volumeMounts"]} for n in ("redis", "sentinel", "agent"))
    # the kubectl image has no shell and no cp: it runs kubectl proxy, whose binary the agent
    # copies through the shared process namespace
    assert c["kubectl"]["image"] == pin("KUBECTL_IMAGE")
    assert c["kubectl"]["command"] == ["/bin/kubectl", "proxy", "--address=127.0.0.1", "--port=8001"]
    assert pod["shareProcessNamespace"] is True and "initContainers" not in pod
    assert _env(c["agent"])["API_PROXY"] == "http://127.0.0.1:8001"
    assert pod["securityContext"]["runAsUser"] == 999 and pod["securityContext"]["runAsNonRoot"] is True
    # an official, pullable default image, pinned by tag
    assert redis_chart.metadata["appVersion"] == pin("REDIS_IMAGE").rsplit(":", 1)[1]


def test_master_service_selects_the_role_label_and_read_service_every_pod(redis_chart, helm):
    objects = helm.template(redis_chart.path, "redis")
    master = _kind(objects, "Service", "redis-master")
    members = {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": "redis",
               "app.kubernetes.io/component": "member"}
    assert master["spec"]["selector"] == {**members, "chartgen.io/role": "master"}
    read = _kind(objects, "Service", "redis-read")
    assert read["spec"]["selector"] == members  # not the helm test pod
    pod_labels = _kind(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert members.items() <= pod_labels.items() and "chartgen.io/role" not in pod_labels
    sentinel = _kind(objects, "Service", "redis-sentinel")
    assert sentinel["spec"]["ports"][0]["port"] == 26379
    agent = _env(_containers(objects)["agent"])
    assert agent["ROLE_LABEL"] == "chartgen.io/role"
    binding = _kind(objects, "RoleBinding")
    assert binding["subjects"][0]["name"] == _kind(objects, "StatefulSet")["spec"]["template"]["spec"]["serviceAccountName"]


def test_role_labels_off_removes_agent_role_and_master_service(redis_chart, helm):
    objects = helm.template(redis_chart.path, "redis", values={"roleLabels": {"enabled": False}})
    assert not [o for o in objects if o["kind"] in ("Role", "RoleBinding")]
    assert not [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "redis-master"]
    assert list(_containers(objects)) == ["redis", "sentinel"]
    assert "shareProcessNamespace" not in _kind(objects, "StatefulSet")["spec"]["template"]["spec"]


def test_password_secret_is_generated_kept_and_never_in_values(redis_chart, helm):
    objects = helm.template(redis_chart.path, "redis")
    secret = _kind(objects, "Secret", "redis-auth")
    password = base64.b64decode(secret["data"]["redis-password"]).decode()
    assert len(password) == 32
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert password not in (redis_chart.path / "values.yaml").read_text()
    assert password not in str([o for o in objects if o["kind"] == "ConfigMap"])
    for name, c in _containers(objects).items():
        if name == "kubectl":
            assert "env" not in c  # the API proxy sidecar gets no password
            continue
        env = _env(c)
        assert env["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "redis-auth", "key": "redis-password"}}, name
        assert env["SENTINEL_PASSWORD"] == env["REDIS_PASSWORD"]
    config = _kind(objects, "ConfigMap", "redis-config")["data"]
    assert "protected-mode yes" in config["redis.conf"]
    # every template run draws a new value: only lookup (a live cluster) keeps it, hence "keep"
    again = base64.b64decode(_kind(helm.template(redis_chart.path, "redis"), "Secret")["data"]["redis-password"])
    assert again.decode() != password


def test_existing_secret_is_used_instead(redis_chart, helm):
    objects = helm.template(redis_chart.path, "redis", values={"auth": {"existingSecret": "mine",
                                                                        "existingSecretPasswordKey": "pw"}})
    assert not [o for o in objects if o["kind"] == "Secret"]
    env = _env(_containers(objects)["redis"])
    assert env["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "mine", "key": "pw"}}


def test_auth_off_turns_protected_mode_off(redis_chart, helm):
    objects = helm.template(redis_chart.path, "redis", values={"auth": {"enabled": False}})
    assert not [o for o in objects if o["kind"] == "Secret"]
    config = _kind(objects, "ConfigMap", "redis-config")["data"]
    assert "protected-mode no" in config["redis.conf"] and "protected-mode no" in config["sentinel.conf"]
    env = _env(_containers(objects)["redis"])
    assert "REDIS_PASSWORD" not in env and "SENTINEL_PASSWORD" not in env


def test_sentinel_auth_can_be_left_off(redis_chart, helm):
    objects = helm.template(redis_chart.path, "redis", values={"auth": {"sentinel": False}})
    env = _env(_containers(objects)["sentinel"])
    assert "REDIS_PASSWORD" in env and "SENTINEL_PASSWORD" not in env
    assert "protected-mode no" in _kind(objects, "ConfigMap", "redis-config")["data"]["sentinel.conf"]


def test_fast_failover_defaults_and_settings_reach_the_config(redis_chart, helm):
    config = _kind(helm.template(redis_chart.path, "redis"), "ConfigMap", "redis-config")["data"]
    assert "sentinel down-after-milliseconds mymaster 5000" in config["sentinel-master.conf"]
    assert "sentinel failover-timeout mymaster 10000" in config["sentinel-master.conf"]
    assert "sentinel resolve-hostnames yes" in config["sentinel.conf"]
    assert "sentinel announce-hostnames yes" in config["sentinel.conf"]
    values = {"sentinel": {"masterSet": "cache", "downAfterMilliseconds": 60000, "failoverTimeout": 180000},
              "redis": {"appendonly": False, "save": "", "maxmemory": "512mb", "extraConfig": "hz 20"}}
    config = _kind(helm.template(redis_chart.path, "redis", values=values), "ConfigMap", "redis-config")["data"]
    assert "sentinel down-after-milliseconds cache 60000" in config["sentinel-master.conf"]
    assert "sentinel failover-timeout cache 180000" in config["sentinel-master.conf"]
    for line in ("appendonly no", 'save ""', "maxmemory 512mb", "hz 20"):
        assert line in config["redis.conf"].splitlines()


def test_handover_must_fit_in_the_grace_period(redis_chart, helm):
    with pytest.raises(HelmError, match="below terminationGracePeriodSeconds"):
        helm.template(redis_chart.path, "redis", values={"terminationGracePeriodSeconds": 10})


def test_helm_test_pod_checks_the_cluster(redis_chart, helm):
    objects = helm.template(redis_chart.path, "redis", "db", values={"replicaCount": 5})
    pod = _kind(objects, "Pod", "redis-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    env = _env(pod["spec"]["containers"][0])
    assert env["REPLICAS"] == "5" and len(env["PEERS"].split()) == 5
    assert env["MASTER_SERVICE"] == "redis-master.db.svc.cluster.local"



# -- stateful-single ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def single_chart(tmp_path_factory):
    return chartgen.generate("redis", "redis", type="stateful-single", output=tmp_path_factory.mktemp("single") / "redis")


def test_stateful_single_is_one_master_without_sentinels_agents_or_handover(single_chart, helm):
    objects = helm.template(single_chart.path, "redis")
    sts = _kind(objects, "StatefulSet")
    assert sts["spec"]["replicas"] == 1
    containers = _containers(objects)
    assert list(containers) == ["redis"]
    assert "lifecycle" not in containers["redis"] and "shareProcessNamespace" not in sts["spec"]["template"]["spec"]
    assert _env(containers["redis"])["SENTINELS"] == "false" and "SENTINEL_PASSWORD" not in _env(containers["redis"])
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    assert sorted(services) == ["redis-headless", "redis-master", "redis-read"]
    assert "chartgen.io/role" not in services["redis-master"]["spec"]["selector"]  # the one pod is the master
    assert [p["name"] for p in services["redis-headless"]["spec"]["ports"]] == ["redis"]
    assert not [o for o in objects if o["kind"] in ("Role", "RoleBinding", "PodDisruptionBudget")]
    (np,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert {p["port"] for r in np["spec"]["ingress"] for p in r.get("ports", [])} == {"redis"}
    test_env = {e["name"]: e.get("value") for o in objects if o["kind"] == "Pod" for e in o["spec"]["containers"][0]["env"]}
    assert test_env["SENTINELS"] == "false" and test_env["MASTER_SERVICE"].startswith("redis-master.")


def test_the_type_value_decides_the_sentinels(redis_chart, helm):
    """The clustered chart switched to stateful-single by value drops the sentinels and the role
    agent even with roleLabels.enabled left on (a master is what a majority of sentinels names)."""
    objects = helm.template(redis_chart.path, "redis", values={"type": "stateful-single", "replicaCount": 1})
    assert list(_containers(objects)) == ["redis"]
    assert "redis-sentinel" not in {o["metadata"]["name"] for o in objects if o["kind"] == "Service"}
    multi = _containers(helm.template(redis_chart.path, "redis", values={"replicaCount": 1}))
    assert list(multi) == ["redis", "sentinel", "agent", "kubectl"]


# -- flavors: redis (the default) and valkey ------------------------------------------------------
FLAVORS = {"redis": "REDIS_IMAGE", "valkey": "VALKEY_IMAGE"}
BINARIES = {"redis": ("redis-server", "redis-sentinel", "redis-cli"),
            "valkey": ("valkey-server", "valkey-sentinel", "valkey-cli")}
# every name `make install` of either server gives (valkey's adds redis-* links to its own)
REDIS_NAMES = re.compile(r"\bredis-(server|sentinel|cli|benchmark|check-aof|check-rdb)\b")


@pytest.fixture(scope="module")
def valkey_chart(tmp_path_factory):
    return chartgen.generate("redis", "valkey", flavor="valkey", output=tmp_path_factory.mktemp("valkey") / "valkey")


@pytest.fixture(scope="module", params=list(FLAVORS))
def flavored(request, redis_chart, valkey_chart):
    return request.param, {"redis": redis_chart, "valkey": valkey_chart}[request.param]


def _chart_text(chart, *folders):
    return {p.relative_to(chart.path).as_posix(): p.read_text()
            for folder in folders for p in sorted((chart.path / folder).rglob("*")) if p.is_file()}


def test_each_flavor_runs_its_official_image_and_its_own_binaries(flavored, helm):
    flavor, chart = flavored
    server, sentinel, cli = BINARIES[flavor]
    image = pin(FLAVORS[flavor])
    assert image.startswith("docker.io/library/redis:8." if flavor == "redis" else "docker.io/valkey/valkey:8.1.")
    assert chart.metadata["annotations"]["chartgen.io/flavor"] == flavor
    assert chart.metadata["appVersion"] == image.rsplit(":", 1)[1]
    objects = helm.template(chart.path, flavor)
    c = _containers(objects)
    assert c["redis"]["image"] == c["sentinel"]["image"] == c["agent"]["image"] == image
    assert _kind(objects, "Pod")["spec"]["containers"][0]["image"] == image  # the helm test
    files = _chart_text(chart, "files")
    assert f'exec {server} "$conf"' in files["files/start-redis.sh"]
    assert f'exec {sentinel} "$SENTINEL_CONF"' in files["files/start-sentinel.sh"]
    assert files["files/lib.sh"].count(f'timeout "${{CLI_TIMEOUT:-2}}" {cli} -h') == 4
    notes = helm.run(["install", flavor, str(chart.path), "--dry-run=client"])
    assert f"{cli} -p 26379 SENTINEL get-master-addr-by-name mymaster" in notes
    assert ("Valkey with Sentinel" if flavor == "valkey" else "Redis with Sentinel") in notes
    # a chart generated without --flavor is the redis flavor
    default = chartgen.generate("redis", "x", output=chart.path.parent.parent / f"default-{flavor}" / "x")
    assert default.metadata["annotations"]["chartgen.io/flavor"] == "redis"


def test_a_valkey_chart_calls_valkey_names_only(valkey_chart, redis_chart, helm):
    """The valkey image also has redis-* links to its binaries (valkey's `make install`), but the
    chart does not lean on them: no script, template, NOTES or README text of it names a redis-*
    program, and every valkey-* program it names is in the image (tests/images/manifest.yaml).
    The values and their descriptions (values.yaml, the schema, the README's values table) keep
    the preset's Redis names in both flavors."""
    try:  # the default images' tool sets (tests/images/manifest.yaml), as the harness provides them
        from tests.infra.images import tools
    except ImportError:
        from tests.images.toolbox import tools

    texts = _chart_text(valkey_chart, "files", "templates")
    texts["README.md"] = (valkey_chart.path / "README.md").read_text().split("\n## Values\n")[0]
    texts["NOTES"] = helm.run(["install", "valkey", str(valkey_chart.path), "--dry-run=client"])
    found = {name: REDIS_NAMES.findall(text) for name, text in texts.items() if REDIS_NAMES.search(text)}
    # the README lists both flavors' binaries in its flavor list, and says redis-cli reads REDISCLI_AUTH
    readme = [ln for ln in texts.pop("README.md").splitlines() if REDIS_NAMES.search(ln)]
    found.pop("README.md", None)
    assert not found, f"the valkey chart names redis programs: {found}"
    assert all("--flavor redis" in ln or "`redis-cli` and `valkey-cli`" in ln for ln in readme), readme
    image = tools("VALKEY_IMAGE")
    scripts = "\n".join(t for n, t in texts.items() if n.startswith(("files/", "templates/")))
    named = set(re.findall(r"\bvalkey-[a-z-]+\b", scripts))
    assert named == {"valkey-server", "valkey-sentinel", "valkey-cli"}
    for program in named:
        image.resolve(program)  # raises MissingTool when the image has no such program
    # and the redis chart knows nothing of valkey but its README's flavor list
    redis_texts = _chart_text(redis_chart, "files", "templates")
    assert not [n for n, t in redis_texts.items() if "valkey" in t.lower()]


def test_a_valkey_chart_describes_valkey(valkey_chart):
    meta = valkey_chart.metadata
    assert meta["name"] == "valkey" and meta["description"].startswith("Valkey with Sentinel")
    assert meta["home"] == "https://valkey.io" and "valkey" in meta["keywords"]
    assert meta["annotations"]["chartgen.io/preset"] == "redis"
    assert "image: docker.io/valkey/valkey:8.1." in meta["annotations"]["artifacthub.io/images"]
    readme = (valkey_chart.path / "README.md").read_text()
    assert "flavor `valkey`" in readme and "`valkey-server` and `valkey-sentinel`" in readme
    assert "official `valkey/valkey` image" in readme


def test_the_password_reaches_valkey_cli_in_its_environment_never_its_command_line(valkey_chart, helm, tmp_path):
    """valkey-cli 8.1 reads REDISCLI_AUTH (VALKEYCLI_AUTH only from Valkey 9.0): the chart's
    client calls, run with a stand-in valkey-cli that records what it gets, pass the password
    there and never as an argument; the containers get it from the Secret, not the command."""
    fake = tmp_path / "bin"
    fake.mkdir()
    record = tmp_path / "calls"
    (fake / "valkey-cli").write_text('#!/bin/sh\nprintf "argv=%s auth=%s vauth=%s\\n" "$*" "${REDISCLI_AUTH:-}" '
                                     f'"${{VALKEYCLI_AUTH:-}}" >>"{record}"\necho PONG\n')
    (fake / "valkey-cli").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "SCRIPTS_DIR": str(valkey_chart.path / "files"), "REPLICAS": "3",
           "SERVER_PORT": "6379", "SENTINEL_PORT": "26379", "MASTER_SET": "mymaster", "POD_NAME": "v-0",
           "PEERS": "v-0.h v-1.h v-2.h", "REDIS_PASSWORD": "s3cr3t-data", "SENTINEL_PASSWORD": "s3cr3t-sent"}
    script = f'. {valkey_chart.path / "files" / "lib.sh"}; rcli v-1.h PING; scli v-2.h SENTINEL MASTER mymaster'
    proc = subprocess.run(["/bin/dash", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    calls = record.read_text().splitlines()
    assert calls == ["argv=-h v-1.h -p 6379 PING auth=s3cr3t-data vauth=",
                     "argv=-h v-2.h -p 26379 SENTINEL MASTER mymaster auth=s3cr3t-sent vauth="]
    for name, c in _containers(helm.template(valkey_chart.path, "valkey")).items():
        command = " ".join(c.get("command", []) + c.get("args", []))
        assert "PASSWORD" not in command and "-a " not in command, name
        if name != "kubectl":
            assert _env(c)["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "valkey-auth", "key": "redis-password"}}
    for text in _chart_text(valkey_chart, "files").values():
        assert not re.search(r"valkey-cli[^\n]*\s(-a|--pass|--askpass)\b", text)
