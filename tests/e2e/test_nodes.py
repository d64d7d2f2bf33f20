"""Every clustered preset on several nodes (kind: 1 control plane + 3 workers in zones a, a, b),
three drivers' releases at a time (as test_scenarios; a flavor's image adds nothing to what a
node fault tests), with hard anti-affinity: each places one member per node; the catalogue's
faults that touch nodes or the whole cluster (a drain against the PodDisruptionBudgets, the
first release's leader's node stopped, the Kubernetes API unreachable) happen once for all of
them, under each driver's writer, with no acknowledged write lost anywhere; then 5 members with
hard anti-affinity on 3 workers leave 2 Pending and `chartgen status` says why, and a new
release of 5 without anti-affinity, spread over the zones, schedules 3 + 2.
Marked disruptive: make e2e runs these alone, after the others."""

from __future__ import annotations

import re

import pytest

from tests import faults, scenario
from tests.drivers import Release
from tests.e2e.conftest import Rounds, open_releases
from tests.kube import ZONE_LABEL
from tests.publish.conftest import chartgen as chartgen_cli

pytestmark = [pytest.mark.e2e, pytest.mark.disruptive, pytest.mark.timeout(2400)]
BATCH = 3


@pytest.fixture(scope="module")
def rounds(request, batch, cluster, kube, helm):
    if len(kube.workers()) < 3:
        pytest.skip(f"needs 3 schedulable worker nodes, this cluster has {len(kube.workers())}: run --cluster=kind")
    releases = open_releases(request, cluster, kube, helm, "e2e-nodes", batch,
                             extra={"podAntiAffinityPreset": "hard"})
    r = Rounds(releases, cluster)
    yield r
    for release in releases.values():
        kube.delete_namespace(release.ns)


def _install(r):
    r.upgrade()
    r.wait_settled(3, "install", timeout=900, interval=2)
    return r.kube.placement(r.ns, r.selector)


def test_hard_anti_affinity_places_one_member_per_node(rounds, kube, driver):
    where = rounds.result("install", driver, lambda rs: scenario.together(rs, _install))
    print(f"\n{driver.name}: {where}")
    assert len(set(where.values())) == 3 and set(where.values()) <= set(kube.workers())


@pytest.mark.parametrize("fault", [pytest.param(f, id=f.name) for f in faults.ALONE])
def test_fault_loses_no_acknowledged_write(rounds, cluster, kube, fault, driver):
    why = faults.skip_reason(fault, cluster, kube)
    if why:
        pytest.skip(why)
    print(f"\n{rounds.result(fault.name, driver, lambda rs: scenario.round_of(rs, cluster, fault)).line()}")


def _five(r, cluster):
    """5 members with hard anti-affinity on 3 workers: 3 run, 2 stay Pending and say why; then
    the anti-affinity dropped and a spread over the zones: 3 + 2."""
    r.helm.uninstall(r.name, r.ns, wait=True)
    five = Release(r.driver, r.kube, r.helm, r.chart, r.ns, {**r.values, "replicaCount": 5}, name=f"{r.name}5")
    five.upgrade(wait=False)
    five.kube.wait("3 ready members", lambda: len(five.kube.ready_names(five.ns, five.selector)) == 3, timeout=900,
                   interval=2)
    where = five.kube.placement(five.ns, five.selector)
    pending = sorted(p for p, n in where.items() if n is None)
    assert len(pending) == 2, where
    for pod in pending:
        why = five.kube.wait(f"{pod}: FailedScheduling", lambda pod=pod: five.kube.pending_reasons(five.ns, pod),
                             timeout=120)
        assert re.search(r"didn't match pod anti-affinity rules", why[-1]), why
    status = chartgen_cli("status", five.name, "--kubeconfig", str(cluster.kubeconfig), "--namespace", five.ns)
    assert status.returncode == 1 and "members healthy 3/5" in status.stdout, status.stdout
    for pod in pending:
        assert re.search(rf"^ +{pod} +NOT READY +role \S+ +Pending, unschedulable.*anti-affinity", status.stdout,
                         re.M), status.stdout
    five.helm.uninstall(five.name, five.ns, wait=True)
    with faults.ONE_AT_A_TIME:
        per_zone = _spread(r)
    return status.stdout, per_zone


def _spread(r):
    """A release of 5 without anti-affinity, spread over the zones (a new install: a StatefulSet
    with OrderedReady does not roll while members are Pending, Kubernetes' documented limit)."""
    name = f"{r.name}z"
    spread = [{"maxSkew": 1, "topologyKey": ZONE_LABEL, "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": name,
                                                 "app.kubernetes.io/component": "member"}}}]
    zoned = Release(r.driver, r.kube, r.helm, r.chart, r.ns, {**r.values, "replicaCount": 5,
                    "podAntiAffinityPreset": "", "topologySpreadConstraints": spread}, name=name)
    zoned.upgrade(timeout="15m")
    zoned.wait_settled(5, "5 members spread over the zones", timeout=900, interval=2)
    sts = zoned.kube.apps.read_namespaced_stateful_set(zoned.driver.statefulset(zoned.name), zoned.ns)
    assert zoned.kube.api_client.sanitize_for_serialization(sts.spec.template.spec.topology_spread_constraints) == spread
    zones = zoned.kube.zones()
    per_zone: dict[str, int] = {}
    for node in zoned.kube.placement(zoned.ns, zoned.selector).values():
        per_zone[zones[node]] = per_zone.get(zones[node], 0) + 1
    assert sorted(per_zone.values()) == [2, 3], per_zone
    zoned.helm.uninstall(zoned.name, zoned.ns, wait=True)
    return per_zone


def test_five_members_on_three_workers_two_pending_then_three_and_two_over_the_zones(rounds, cluster, driver):
    status, per_zone = rounds.result("five", driver, lambda rs: scenario.together(rs, lambda r: _five(r, cluster)))
    print(f"\n{status}\nmembers per zone: {per_zone}")
