"""The etcd chart through the real helm: what is etcd's own (tests/charts/test_contract.py holds
what every preset keeps: lint matrix, counts, peers, PDB, affinity, secrets, policy)."""

import base64
import subprocess

import pytest

import chartgen
from chartgen import kubeschema
from chartgen.topology import Peers
from chartgen.versions import pin
from tests.charts.rendered import first as _kind


@pytest.mark.parametrize("n", [1, 3, 5, 7])
@pytest.mark.parametrize("release,namespace,domain", [("etcd", "default", "cluster.local"),
                                                      ("prod", "data", "k8s.example")])
def test_peer_list_matches_python_topology(etcd_chart, helm, n, release, namespace, domain):
    objects = helm.template(etcd_chart.path, release, namespace,
                            {"replicaCount": n, "clusterDomain": domain, "tls": {"peer": True}})
    sts = _kind(objects, "StatefulSet")
    fullname = sts["metadata"]["name"]
    assert fullname == (release if "etcd" in release else f"{release}-etcd")
    peers = Peers(fullname, sts["spec"]["serviceName"], namespace, domain)
    topo = _kind(objects, "ConfigMap", f"{fullname}-topology")["data"]
    assert topo["PEERS"].split() == peers.fqdns(n)
    assert topo["REPLICAS"] == str(n)
    assert sts["spec"]["replicas"] == n


def test_statefulset_contract(etcd_chart, helm):
    objects = helm.template(etcd_chart.path, "etcd")
    sts = _kind(objects, "StatefulSet")
    spec = sts["spec"]
    assert spec["podManagementPolicy"] == "Parallel"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Delete"}
    assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["data"]
    headless = _kind(objects, "Service", spec["serviceName"])
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    etcd = spec["template"]["spec"]["containers"][0]
    assert etcd["image"] == pin("ETCD_IMAGE")
    assert etcd["command"] == ["/usr/local/bin/etcd"]  # no shell in the official image
    assert etcd["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert etcd["livenessProbe"]["httpGet"]["path"] == "/livez"
    pod_sc = spec["template"]["spec"]["securityContext"]
    assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] != 0


def test_auth_secret_is_generated_kept_and_never_in_values(etcd_chart, helm):
    objects = helm.template(etcd_chart.path, "etcd", values={"auth": {"enabled": True}})
    secret = _kind(objects, "Secret", "etcd-auth")
    password = base64.b64decode(secret["data"]["root-password"]).decode()
    assert len(password) == 24
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert password not in (etcd_chart.path / "values.yaml").read_text()
    env = _kind(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][1]["env"]
    ref = next(e for e in env if e["name"] == "ROOT_PASSWORD")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "etcd-auth", "key": "root-password"}


def test_existing_secret_is_used_instead(etcd_chart, helm):
    objects = helm.template(etcd_chart.path, "etcd", values={"auth": {"enabled": True, "existingSecret": "mine",
                                                               "existingSecretPasswordKey": "pw"}})
    assert not [o for o in objects if o["kind"] == "Secret"]
    env = _kind(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][1]["env"]
    ref = next(e for e in env if e["name"] == "ROOT_PASSWORD")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "mine", "key": "pw"}


def test_tls_certificate_covers_every_member_fqdn(etcd_chart, helm, tmp_path):
    objects = helm.template(etcd_chart.path, "etcd", "db", {"tls": {"peer": True, "client": True}})
    secret = _kind(objects, "Secret", "etcd-tls")
    pem = tmp_path / "tls.crt"
    pem.write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
    text = subprocess.run(["openssl", "x509", "-in", str(pem), "-noout", "-ext", "subjectAltName"],
                          capture_output=True, text=True, check=True).stdout
    assert "*.etcd-headless.db.svc.cluster.local" in text and "etcd.db.svc.cluster.local" in text
    config = _kind(objects, "ConfigMap", "etcd-config")["data"]["etcd.yaml"]
    assert "listen-client-urls: https://" in config and "peer-transport-security" in config


def test_scale_down_hook_runs_before_upgrades_with_the_new_count(etcd_chart, helm):
    objects = helm.template(etcd_chart.path, "etcd", values={"replicaCount": 3})
    job = _kind(objects, "Job", "etcd-scale-down")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade,pre-rollback"
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["REPLICAS"] == "3"
    script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "LIB_LOADED=1" in script and "member remove" in script


def test_helm_test_pod_checks_members(etcd_chart, helm):
    objects = helm.template(etcd_chart.path, "etcd", values={"replicaCount": 5})
    pod = _kind(objects, "Pod", "etcd-test-cluster")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["containers"][0]["envFrom"] == [{"configMapRef": {"name": "etcd-topology"}}]
    assert _kind(objects, "ConfigMap", "etcd-topology")["data"]["REPLICAS"] == "5"


def test_kubernetes_schema_catches_an_invalid_object(etcd_chart, helm):
    objects = helm.template(etcd_chart.path, "etcd")
    sts = _kind(objects, "StatefulSet")
    sts["spec"]["replicas"] = "three"
    sts["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 7
    problems = kubeschema.problems([sts])
    assert problems and "StatefulSet/etcd" in problems[0]


# -- stateful-single ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def single_chart(tmp_path_factory):
    return chartgen.generate("etcd", "etcd", type="stateful-single", output=tmp_path_factory.mktemp("single") / "etcd")


def test_stateful_single_is_one_member_without_the_learner_agent(single_chart, helm):
    objects = helm.template(single_chart.path, "etcd")
    sts = _kind(objects, "StatefulSet")
    assert sts["spec"]["replicas"] == 1 and sts["metadata"]["annotations"]["chartgen.io/type"] == "stateful-single"
    pod = sts["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["etcd"]  # nothing to promote
    assert [c["name"] for c in pod["initContainers"]] == ["bootstrap"]
    assert not [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    # auth still needs the agent: it turns authentication on
    with_auth = _kind(helm.template(single_chart.path, "etcd", values={"auth": {"enabled": True}}), "StatefulSet")
    assert [c["name"] for c in with_auth["spec"]["template"]["spec"]["containers"]] == ["etcd", "agent"]
    # the clustered chart keeps the agent at any count, so scaling 1 -> 3 restarts nothing
    multi = _kind(helm.template(chartgen.generate("etcd", "etcd", output=single_chart.path.parent / "multi").path,
                                "etcd", values={"replicaCount": 1}), "StatefulSet")
    assert [c["name"] for c in multi["spec"]["template"]["spec"]["containers"]] == ["etcd", "agent"]
