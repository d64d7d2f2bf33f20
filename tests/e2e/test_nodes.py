"""Every clustered preset on several nodes (kind: 1 control plane + 3 workers in zones a, a, b),
in order per driver: hard anti-affinity places one member per node; the catalogue's faults that
touch nodes or the whole cluster (a drain against the PodDisruptionBudget, the leader's node
stopped, the Kubernetes API unreachable) under the driver's writer with no acknowledged write
lost; 5 members with hard anti-affinity on 3 workers leave 2 Pending and `chartgen status` says
why; the same release spread over zones schedules 3 + 2. Marked disruptive: make e2e runs
these alone, after the others."""

from __future__ import annotations

import re

import pytest

from tests import faults, scenario
from tests.drivers import Release
from tests.e2e.conftest import driver_params, open_release
from tests.kube import ZONE_LABEL
from tests.publish.conftest import chartgen as chartgen_cli

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive, pytest.mark.timeout(1500)]


@pytest.fixture(scope="module", params=driver_params())
def driver(request):
    return request.param


@pytest.fixture(scope="module")
def release(request, driver, cluster, kube, helm):
    if len(kube.workers()) < 3:
        pytest.skip(f"needs 3 schedulable worker nodes, this cluster has {len(kube.workers())}: run --cluster=kind")
    r = open_release(request, driver, cluster, kube, helm, f"e2e-nodes-{driver.name}",
                     extra={"podAntiAffinityPreset": "hard"})
    yield r
    kube.delete_namespace(r.ns)


def test_hard_anti_affinity_places_one_member_per_node(release):
    release.upgrade()
    release.wait_settled(3, "install", timeout=600)
    where = release.kube.placement(release.ns, release.selector)
    print(f"\nplacement: {where}")
    assert len(set(where.values())) == 3 and set(where.values()) <= set(release.kube.workers())


@pytest.mark.parametrize("fault", [pytest.param(f, id=f.name) for f in faults.ALONE])
def test_fault_loses_no_acknowledged_write(release, cluster, fault):
    why = faults.skip_reason(fault, cluster, release.kube)
    if why:
        pytest.skip(why)
    scenario.run(release, cluster, fault)


def test_five_members_hard_anti_affinity_on_three_workers_two_pending(release, cluster):
    release.helm.uninstall(release.name, release.ns, wait=True)
    five = Release(release.driver, release.kube, release.helm, release.chart, release.ns,
                   {**release.values, "replicaCount": 5}, name=f"{release.name}5")
    five.upgrade(wait=False)
    five.kube.wait("3 ready members", lambda: len(five.kube.ready_names(five.ns, five.selector)) == 3, timeout=600)
    where = five.kube.placement(five.ns, five.selector)
    pending = sorted(p for p, n in where.items() if n is None)
    assert len(pending) == 2, where
    for pod in pending:
        why = five.kube.wait(f"{pod}: FailedScheduling", lambda pod=pod: five.kube.pending_reasons(five.ns, pod),
                             timeout=60)
        assert re.search(r"didn't match pod anti-affinity rules", why[-1]), why
    status = chartgen_cli("status", five.name, "--kubeconfig", str(cluster.kubeconfig), "--namespace", five.ns)
    print(status.stdout)
    assert status.returncode == 1 and "members healthy 3/5" in status.stdout
    for pod in pending:
        assert re.search(rf"^ +{pod} +NOT READY +role \S+ +Pending, unschedulable.*anti-affinity", status.stdout,
                         re.M), status.stdout
    five.helm.uninstall(five.name, five.ns, wait=True)


def test_five_members_spread_over_two_zones_three_and_two(release):
    zoned = Release(release.driver, release.kube, release.helm, release.chart, release.ns,
                    {**release.values, "replicaCount": 5, "podAntiAffinityPreset": ""}, name=f"{release.name}z")
    spread = [{"maxSkew": 1, "topologyKey": ZONE_LABEL, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": zoned.name,
                                                 "app.kubernetes.io/component": "member"}}}]
    zoned.upgrade({"topologySpreadConstraints": spread})
    zoned.wait_settled(5, "5 members spread over the zones", timeout=900)
    sts = zoned.kube.apps.read_namespaced_stateful_set(zoned.driver.statefulset(zoned.name), zoned.ns)
    assert zoned.kube.api_client.sanitize_for_serialization(sts.spec.template.spec.topology_spread_constraints) == spread
    zones = zoned.kube.zones()
    per_zone: dict[str, int] = {}
    for node in zoned.kube.placement(zoned.ns, zoned.selector).values():
        per_zone[zones[node]] = per_zone.get(zones[node], 0) + 1
    print(f"\nmembers per zone: {per_zone}")
    assert sorted(per_zone.values()) == [2, 3], per_zone
    zoned.helm.uninstall(zoned.name, zoned.ns, wait=True)
