"""Every clustered preset, through its driver (tests/drivers), on the cluster: three drivers'
releases at a time side by side (each in its own namespace), every scenario a round that
happens to all of them at once and is judged for each: install + helm test; every fault of the
catalogue that touches one release (tests/faults.py: the leader's pod deleted, frozen, cut off;
all pods deleted; a rolling upgrade) under each driver's writer, with no
acknowledged write lost, writes resuming and every member holding every acknowledged write
after; scale 3 -> 5 -> 3; an upgrade rendered without the cluster refused; an even count
refused; uninstall keeping the data."""

from __future__ import annotations

import json

import pytest

from chartgen.errors import HelmError
from tests import faults, scenario
from tests.e2e.conftest import Rounds, open_releases

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400), pytest.mark.xdist_group("scenarios")]
# drivers installed at a time: three releases' probes, agents and writers are what this machine's
# two cores carry beside the cluster itself (four saturate them); a round's waiting is paid once
BATCH = 3


@pytest.fixture(scope="module")
def rounds(request, batch, cluster, kube, helm):
    releases = open_releases(request, cluster, kube, helm, "e2e", batch)
    r = Rounds(releases, cluster)
    yield r
    for release in releases.values():
        kube.delete_namespace(release.ns)


def _helm_test(r) -> str:
    with faults.ONE_AT_A_TIME:
        return r.helm.test(r.name, r.ns)


def _install(r):
    r.upgrade()
    leader = r.wait_settled(3, "install", timeout=900, interval=2)
    return leader, _helm_test(r)


def test_install_three_members_and_helm_test(rounds, driver):
    leader, out = rounds.result("install", driver, lambda rs: scenario.together(rs, _install))
    print(f"\n{driver.name}: 3 members, {driver.leader_word} {leader}\n{out}")


@pytest.mark.parametrize("fault", [pytest.param(f, id=f.name) for f in faults.SIDE_BY_SIDE])
def test_fault_loses_no_acknowledged_write(rounds, cluster, kube, fault, driver):
    why = faults.skip_reason(fault, cluster, kube)
    if why:
        pytest.skip(why)
    out = rounds.result(fault.name, driver, lambda rs: scenario.round_of(rs, cluster, fault))
    print(f"\n{json.dumps(out.as_dict() | {'timeline': len(out.timeline)})}")


def _scale(r):
    with faults.ONE_AT_A_TIME:
        r.upgrade({"replicaCount": 5})
        r.wait_settled(5, "scaled to 5", timeout=900, interval=2)
        r.driver.check_members(r, 5)
        _helm_test(r)
        writer = r.start_writer("w-scale")
        r.kube.wait("writes acknowledged by 5 members", lambda: len(r.acks(writer)) >= 5, timeout=120, interval=1)
        acked = {seq for seq, _ in r.stop_writer(writer)}
        assert acked, "no write acknowledged by 5 members"
        r.upgrade({"replicaCount": 3})
        r.kube.wait("3 pods", lambda: sorted(p.metadata.name for p in r.kube.pods(r.ns, r.selector)) == r.pods(3),
                    timeout=600)
    r.wait_settled(3, "scaled back to 3", timeout=900, interval=2)
    r.driver.check_members(r, 3)
    for pod in r.pods(3):
        assert acked <= r.driver.read_back(r, writer, pod), f"{pod} lost writes in the scale-down"


def test_scale_to_five_and_back_to_three(rounds, driver):
    rounds.result("scale", driver, lambda rs: scenario.together(rs, _scale))


def test_an_upgrade_rendered_without_the_cluster_cannot_change_a_password(rounds, driver):
    """helm upgrade --dry-run=client renders with a blind lookup: the chart refuses instead of
    drawing new passwords for the data the kept ones protect."""
    def blind(r):
        args = ["upgrade", r.name, str(r.chart.path), "--namespace", r.ns, "--dry-run=client", "--values", "-"]
        with pytest.raises(HelmError, match="rendered without access to the cluster"):
            r.helm.run(args, json.dumps(r.values).encode())
    rounds.result("blind upgrade", driver, lambda rs: scenario.together(rs, blind))


def test_an_even_member_count_is_refused(rounds, driver):
    def even(r):
        with pytest.raises(HelmError, match="replicaCount"):
            r.upgrade({"replicaCount": 4}, timeout="2m")
    rounds.result("even count", driver, lambda rs: scenario.together(rs, even))


def _uninstall(r):
    secrets = [s.metadata.name for s in r.kube.core.list_namespaced_secret(r.ns).items
               if s.metadata.name.startswith(f"{r.name}-") and s.type == "Opaque"]
    r.helm.uninstall(r.name, r.ns, wait=True)
    r.kube.wait("no member pods", lambda: not r.kube.pods(r.ns, r.selector), timeout=300)
    pvcs = {p.metadata.name for p in r.kube.core.list_namespaced_persistent_volume_claim(r.ns).items}
    sts = r.driver.statefulset(r.name)
    assert {f"data-{sts}-{i}" for i in range(3)} <= pvcs, pvcs
    left = {s.metadata.name for s in r.kube.core.list_namespaced_secret(r.ns).items}
    assert secrets and set(secrets) <= left, (secrets, left)


def test_uninstall_keeps_the_data_and_the_secret(rounds, driver):
    rounds.result("uninstall", driver, lambda rs: scenario.together(rs, _uninstall))
