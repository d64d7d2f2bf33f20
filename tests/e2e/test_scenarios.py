"""Every clustered preset, through its driver (tests/drivers), on the cluster, in order per
driver (the drivers side by side): install + helm test; every fault of the catalogue that
touches one release only (tests/faults.py: the leader's pod deleted, frozen, cut off; all pods
deleted; a rolling upgrade) under the driver's writer, with no acknowledged write lost, writes
resuming and every member holding every acknowledged write after; scale 3 -> 5 -> 3; an upgrade
rendered without the cluster refused; an even count refused; uninstall keeping the data."""

from __future__ import annotations

import json

import pytest

from chartgen.errors import HelmError
from tests import faults, scenario
from tests.e2e.conftest import driver_params, open_release

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]
OUTCOMES: list[dict] = []


@pytest.fixture(scope="module", params=driver_params())
def driver(request):
    return request.param


@pytest.fixture(scope="module")
def release(request, driver, cluster, kube, helm):
    r = open_release(request, driver, cluster, kube, helm, f"e2e-{driver.name}")
    yield r
    kube.delete_namespace(r.ns)


def test_install_three_members_and_helm_test(release):
    release.upgrade()
    leader = release.wait_settled(3, "install", timeout=600)
    print(f"\n{release.name}: 3 members, {release.driver.leader_word} {leader}")
    print(release.helm.test(release.name, release.ns))


@pytest.mark.parametrize("fault", [pytest.param(f, id=f.name) for f in faults.SIDE_BY_SIDE])
def test_fault_loses_no_acknowledged_write(release, cluster, fault):
    why = faults.skip_reason(fault, cluster, release.kube)
    if why:
        pytest.skip(why)
    OUTCOMES.append(scenario.run(release, cluster, fault).as_dict())


def test_scale_to_five_and_back_to_three(release):
    release.upgrade({"replicaCount": 5})
    release.wait_settled(5, "scaled to 5", timeout=600)
    release.driver.check_members(release, 5)
    release.helm.test(release.name, release.ns)
    writer = release.start_writer("w-scale")
    acked = {seq for seq, _ in release.stop_writer(writer)}
    assert acked, "no write acknowledged by 5 members"
    release.upgrade({"replicaCount": 3})
    release.kube.wait("3 pods", lambda: sorted(p.metadata.name for p in release.kube.pods(release.ns, release.selector))
                      == release.pods(3), timeout=600)
    release.wait_settled(3, "scaled back to 3", timeout=600)
    release.driver.check_members(release, 3)
    release.helm.test(release.name, release.ns)
    for pod in release.pods(3):
        assert acked <= release.driver.read_back(release, writer, pod), f"{pod} lost writes in the scale-down"


def test_an_upgrade_rendered_without_the_cluster_cannot_change_a_password(release):
    """helm upgrade --dry-run=client renders with a blind lookup: the chart refuses instead of
    drawing new passwords for the data the kept ones protect."""
    args = ["upgrade", release.name, str(release.chart.path), "--namespace", release.ns, "--dry-run=client",
            "--values", "-"]
    with pytest.raises(HelmError, match="rendered without access to the cluster"):
        release.helm.run(args, json.dumps(release.values).encode())


def test_an_even_member_count_is_refused(release):
    with pytest.raises(HelmError, match="replicaCount"):
        release.upgrade({"replicaCount": 4}, timeout="2m")


def test_uninstall_keeps_the_data_and_the_secret(release):
    secrets = [s.metadata.name for s in release.kube.core.list_namespaced_secret(release.ns).items
               if s.metadata.name.startswith(f"{release.name}-") and s.type == "Opaque"]
    release.helm.uninstall(release.name, release.ns, wait=True)
    release.kube.wait("no pods", lambda: not release.kube.pods(release.ns, f"app.kubernetes.io/instance={release.name}"),
                      timeout=180)
    pvcs = {p.metadata.name for p in release.kube.core.list_namespaced_persistent_volume_claim(release.ns).items}
    sts = release.driver.statefulset(release.name)
    assert {f"data-{sts}-{i}" for i in range(3)} <= pvcs, pvcs
    left = {s.metadata.name for s in release.kube.core.list_namespaced_secret(release.ns).items}
    assert secrets and set(secrets) <= left, (secrets, left)
    print(f"\noutcomes: {json.dumps([o for o in OUTCOMES if o['driver'] == release.driver.name])}")
