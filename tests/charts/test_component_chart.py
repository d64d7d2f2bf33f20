"""The component chart through the real helm: what each deployment type renders, beyond what
tests/charts/test_contract.py holds for every preset and type (lint matrix, the one-instance
rule, blind type switches, policy, names, NetworkPolicy, checkov)."""

import pytest

import chartgen
from chartgen.errors import HelmError

IMAGE = "ghcr.io/acme/web:2.1"


@pytest.fixture(scope="module")
def chart(tmp_path_factory):
    """One chart (generated as stateful-single); the type is a value, so each test picks it."""
    return chartgen.generate("component", "web", image=IMAGE, ports=["http=8080", "metrics=9090"],
                             output=tmp_path_factory.mktemp("charts") / "web")


def render(helm, chart, release="web", **values):
    return helm.template(chart.path, release, "apps", values)


def kinds(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def one(objects, kind, name=None):
    found = [o for o in kinds(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name or ''}: {len(found)}"
    return found[0]


def main(objects):
    workload = [o for o in objects if o["kind"] in ("StatefulSet", "Deployment")]
    assert len(workload) == 1
    return workload[0], workload[0]["spec"]["template"]["spec"]["containers"][0]


# -- stateful types -------------------------------------------------------------------------------

@pytest.mark.parametrize("chart_type,n", [("stateful-single", 1), ("stateful-multi", 3)])
def test_stateful_types_are_a_statefulset_with_a_volume_per_pod(helm, chart, chart_type, n):
    objects = render(helm, chart, type=chart_type, replicaCount=n,
                     persistence={"size": "7Gi", "storageClass": "fast"},
                     persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Delete"})
    sts, c = main(objects)
    assert sts["kind"] == "StatefulSet" and sts["spec"]["replicas"] == n
    assert sts["spec"]["podManagementPolicy"] == "OrderedReady"  # ordered start and stop by default
    assert sts["spec"]["updateStrategy"] == {"type": "RollingUpdate"}
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Delete"}
    (vct,) = sts["spec"]["volumeClaimTemplates"]
    assert vct["metadata"]["name"] == "data"
    assert vct["spec"]["resources"]["requests"]["storage"] == "7Gi" and vct["spec"]["storageClassName"] == "fast"
    assert vct["spec"]["accessModes"] == ["ReadWriteOnce"]
    # the claims it makes carry Helm's ownership, so a switch to stateless-single adopts data-web-0
    assert vct["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert vct["metadata"]["annotations"] == {"meta.helm.sh/release-name": "web",
                                              "meta.helm.sh/release-namespace": "apps"}
    assert {"name": "data", "mountPath": "/data"} in c["volumeMounts"]
    headless = one(objects, "Service", "web-headless")
    assert sts["spec"]["serviceName"] == "web-headless" and headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert [p["name"] for p in headless["spec"]["ports"]] == ["http", "metrics"]
    client = one(objects, "Service", "web")
    assert [(p["name"], p["port"]) for p in client["spec"]["ports"]] == [("http", 8080), ("metrics", 9090)]
    assert not kinds(objects, "PersistentVolumeClaim") and not kinds(objects, "HorizontalPodAutoscaler")
    pdbs = kinds(objects, "PodDisruptionBudget")
    assert [p["spec"]["maxUnavailable"] for p in pdbs] == ([] if n == 1 else [1])


def test_stateful_options(helm, chart):
    objects = render(helm, chart, type="stateful-multi", replicaCount=3, podManagementPolicy="Parallel",
                     headless={"publishNotReadyAddresses": False}, persistence={"enabled": False})
    sts, c = main(objects)
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert one(objects, "Service", "web-headless")["spec"]["publishNotReadyAddresses"] is False
    assert "volumeClaimTemplates" not in sts["spec"] and "persistentVolumeClaimRetentionPolicy" not in sts["spec"]
    assert {"name": "data", "emptyDir": {}} in sts["spec"]["template"]["spec"]["volumes"]


# -- stateless types ------------------------------------------------------------------------------

def test_stateless_single_with_a_volume_recreates_on_its_own_kept_claim(helm, chart):
    objects = render(helm, chart, type="stateless-single")
    dep, c = main(objects)
    assert dep["kind"] == "Deployment" and dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}  # two pods never share its claim
    pvc = one(objects, "PersistentVolumeClaim")
    # named as the StatefulSet of stateful-single names pod 0's claim: a switch keeps the data
    assert pvc["metadata"]["name"] == "data-web-0"
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}}
    assert not [o for o in kinds(objects, "Service") if o["spec"].get("clusterIP") == "None"]
    assert not kinds(objects, "PodDisruptionBudget")


def test_stateless_single_without_a_volume_rolls(helm, chart):
    objects = render(helm, chart, type="stateless-single", persistence={"enabled": False})
    dep, _ = main(objects)
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert not kinds(objects, "PersistentVolumeClaim")


def test_stateless_multi_rolls_scales_and_shares_storage(helm, chart):
    objects = render(helm, chart, type="stateless-multi", replicaCount=4, rollingUpdate={"maxSurge": "50%", "maxUnavailable": 1},
                     persistence={"enabled": True, "accessModes": ["ReadWriteMany"]})
    dep, _ = main(objects)
    assert dep["spec"]["replicas"] == 4
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 1}}
    pvc = one(objects, "PersistentVolumeClaim")
    assert pvc["metadata"]["name"] == "web-shared" and pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    scaled = render(helm, chart, type="stateless-multi", replicaCount=2, persistence={"enabled": False},
                    autoscaling={"enabled": True, "minReplicas": 3, "maxReplicas": 9, "targetMemoryUtilizationPercentage": 70})
    dep, _ = main(scaled)
    assert "replicas" not in dep["spec"]  # the autoscaler owns the count
    hpa = one(scaled, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 9)
    assert sorted((m["resource"]["name"], m["resource"]["target"]["averageUtilization"]) for m in hpa["spec"]["metrics"]) \
        == [("cpu", 80), ("memory", 70)]


@pytest.mark.parametrize("values,reason", [
    ({"type": "stateless-multi", "replicaCount": 2, "persistence": {"enabled": True, "accessModes": ["ReadWriteOnce"]}},
     "its pods share one claim, which needs ReadWriteMany"),
    ({"type": "stateful-multi", "replicaCount": 3, "autoscaling": {"enabled": True}},
     "only stateless-multi pods are interchangeable"),
    ({"type": "stateless-single", "replicaCount": 2}, "type stateless-single runs exactly one instance"),
    ({"image": {"repository": ""}}, "image.repository: this chart runs your image"),
])
def test_what_the_schema_refuses_the_templates_refuse_too(helm, chart, values, reason):
    with pytest.raises(HelmError):
        render(helm, chart, **values)
    sets = []
    for key, value in values.items():
        if isinstance(value, dict):
            for k, v in value.items():
                sets += ["--set", f"{key}.{k}={{{','.join(v)}}}" if isinstance(v, list) else f"{key}.{k}={str(v).lower()}"]
        else:
            sets += ["--set", f"{key}={value}"]
    with pytest.raises(HelmError, match=reason):
        helm.run(["template", "web", str(chart.path), "--skip-schema-validation", *sets])


# -- the container --------------------------------------------------------------------------------

def test_probes_default_to_tcp_on_the_first_port_and_can_check_more(helm, chart):
    _, c = main(render(helm, chart))
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["tcpSocket"] == {"port": "http"}
        assert "enabled" not in c[probe] and "httpGet" not in c[probe]
    _, c = main(render(helm, chart, readinessProbe={"httpGet": {"path": "/ready"}},
                       livenessProbe={"exec": {"command": ["/bin/check"]}, "periodSeconds": 7},
                       startupProbe={"enabled": False}))
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert c["livenessProbe"]["exec"] == {"command": ["/bin/check"]} and c["livenessProbe"]["periodSeconds"] == 7
    assert "startupProbe" not in c
    _, c = main(render(helm, chart, readinessProbe={"httpGet": {"path": "/m", "port": "metrics"}}))
    assert c["readinessProbe"]["httpGet"]["port"] == "metrics"


def test_image_command_env_and_extra_volumes(helm, chart):
    _, c = main(render(helm, chart, command=["/srv"], args=["--x"], env={"B": 2, "A": "one"},
                       extraEnv=[{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                       extraVolumes=[{"name": "cfg", "configMap": {"name": "c"}}],
                       extraVolumeMounts=[{"name": "cfg", "mountPath": "/etc/app"}]))
    assert c["image"] == IMAGE and c["command"] == ["/srv"] and c["args"] == ["--x"]
    assert c["env"] == [{"name": "A", "value": "one"}, {"name": "B", "value": "2"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    assert {"name": "cfg", "mountPath": "/etc/app"} in c["volumeMounts"]
    assert [(p["name"], p["containerPort"]) for p in c["ports"]] == [("http", 8080), ("metrics", 9090)]
    _, bare = main(render(helm, chart))
    assert "command" not in bare and "args" not in bare and "env" not in bare  # the image's own


# -- helm test and NOTES --------------------------------------------------------------------------

def _test_pod(objects):
    (pod,) = [o for o in kinds(objects, "Pod") if o["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}


def test_helm_test_checks_the_service_and_every_pod_by_fqdn(helm, chart):
    env = _test_pod(render(helm, chart, type="stateful-multi", replicaCount=3,
                           ports=[{"name": "http", "port": 8080}, {"name": "dns", "port": 53, "protocol": "UDP"}]))
    assert env["SERVICE"] == "web.apps.svc.cluster.local" and env["PORTS"] == "8080"  # TCP ports only
    assert env["PEERS"].split() == [f"web-{i}.web-headless.apps.svc.cluster.local" for i in range(3)]
    env = _test_pod(render(helm, chart, type="stateless-multi", replicaCount=2, persistence={"enabled": False}))
    assert "PEERS" not in env and env["PORTS"] == "8080 9090"


@pytest.mark.parametrize("chart_type,needles", [
    ("stateful-multi", ["type stateful-multi, StatefulSet web", "web-2.web-headless.apps.svc.cluster.local",
                        "PVC data-web-<ordinal> per pod"]),
    ("stateless-single", ["type stateless-single, Deployment web", "PVC data-web-0", "Recreate"]),
    ("stateless-multi", ["type stateless-multi, Deployment web", "none kept"]),
])
def test_notes_say_what_runs_and_how_to_switch(helm, chart, chart_type, needles):
    n = "1" if chart_type.endswith("-single") else "3"
    sets = ["--set", f"type={chart_type}", "--set", f"replicaCount={n}"]
    if chart_type == "stateless-multi":
        sets += ["--set", "persistence.enabled=false"]
    out = helm.run(["install", "web", str(chart.path), "--dry-run=client", "--namespace", "apps", *sets])
    notes = out.split("NOTES:", 1)[1]
    for needle in needles + ["web.apps.svc.cluster.local:8080", "--set type=<type>"]:
        assert needle in notes, needle


def test_the_chart_records_its_type_and_the_user_image(chart):
    meta = chart.metadata
    assert meta["annotations"]["chartgen.io/type"] == "stateful-single" and meta["appVersion"] == "2.1"
    assert "image: ghcr.io/acme/web:2.1" in meta["annotations"]["artifacthub.io/images"]
