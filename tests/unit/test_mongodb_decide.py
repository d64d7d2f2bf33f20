"""The MongoDB agent's decisions (presets/mongodb/files/decide.js), run with this machine's Node:
the very file the chart ships and mongosh require()s, against tables of replica set
configurations. Which member to add or remove, who votes, whether ordinal 0 may initiate, and
what helm test requires; then whole scale-ups and scale-downs replayed step by step, holding
MongoDB's rules at every reconfig (one voting change at most, never more than 7 voters, an odd
number of voters at rest, members by FQDN only)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from chartgen.presets import load

DECIDE = load("mongodb").path / "files" / "decide.js"
PORT = 27017
PEERS7 = [f"db-{i}.db-headless.ns.svc.cluster.local" for i in range(7)]

# A Node process that calls decide.js's functions: one JSON request per line, one answer per line.
DRIVER = """
const decide = require(process.argv[1]);
const rl = require('readline').createInterface({input: process.stdin});
rl.on('line', (line) => {
  const req = JSON.parse(line);
  let out;
  try { out = {ok: decide[req.fn](...req.args)}; } catch (e) { out = {error: String(e && e.stack || e)}; }
  process.stdout.write(JSON.stringify(out === undefined ? null : out) + '\\n');
});
"""


@pytest.fixture(scope="module")
def node():
    exe = shutil.which("node")
    assert exe, "node is missing (Debian's nodejs): the mongodb preset's JavaScript is tested with it"
    proc = subprocess.Popen([exe, "-e", DRIVER, str(DECIDE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)

    def call(fn, *args):
        proc.stdin.write(json.dumps({"fn": fn, "args": list(args)}) + "\n")
        proc.stdin.flush()
        out = json.loads(proc.stdout.readline())
        assert "error" not in out, out["error"]
        return out["ok"]

    yield call
    proc.stdin.close()
    proc.wait(timeout=10)


def host(i: int) -> str:
    return f"{PEERS7[i]}:{PORT}"


def member(i: int, votes: int = 1, priority: float = 1, _id: int | None = None) -> dict:
    return {"_id": i if _id is None else _id, "host": host(i), "votes": votes, "priority": priority}


def plan(node, members, replicas, states=None, self=0, answers=None, peers=None):
    peers = PEERS7[:max(replicas, 1)] if peers is None else peers
    states = states if states is not None else {m["host"]: "SECONDARY" for m in members}
    states.setdefault(host(self), "PRIMARY")
    return node("plan", {"members": members, "states": states, "self": host(self), "peers": peers, "port": PORT,
                         "replicas": replicas, "answers": answers or {}, "maxVoters": 7})


# -- names ---------------------------------------------------------------------------------------
def test_ordinals_come_from_peers_or_the_pod_name_never_from_anything_else(node):
    peers = PEERS7[:3]
    assert node("ordinalOf", host(1), peers) == 1
    assert node("ordinalOf", PEERS7[2], peers) == 2  # without a port
    assert node("ordinalOf", host(5), peers) == 5  # scaled away: beyond PEERS, same StatefulSet and domain
    assert node("ordinalOf", "10.0.0.7:27017", peers) == -1  # an IP is never a member of ours
    assert node("ordinalOf", "other-1.db-headless.ns.svc.cluster.local:27017", peers) == -1
    assert node("ordinalOf", "db-1.db-headless.other.svc.cluster.local:27017", peers) == -1
    assert node("ordinalOf", "db-x.db-headless.ns.svc.cluster.local:27017", peers) == -1


def test_role_and_membership_from_hello(node):
    assert node("roleOf", {"isWritablePrimary": True, "setName": "rs0"}) == "primary"
    assert node("roleOf", {"secondary": True, "setName": "rs0"}) == "secondary"
    assert node("roleOf", {"isreplicaset": True}) == "other"
    assert node("roleOf", None) == "other"
    assert node("membershipOf", None) == "down"
    assert node("membershipOf", {"isreplicaset": True, "info": "Does not have a valid replica set config"}) == \
        "uninitialized"
    assert node("membershipOf", {"setName": "rs0", "secondary": True}) == "member"


def test_the_initial_configuration_is_ordinal_0_alone_by_fqdn(node):
    assert node("initialConfig", "rs0", host(0)) == {"_id": "rs0", "members": [{"_id": 0, "host": host(0)}]}


# -- initiate exactly once -----------------------------------------------------------------------
GOOD = {"ordinal": 0, "markerPresent": True, "recordKnown": True, "recordId": "", "self": "uninitialized",
        "peers": [{"host": host(1), "membership": "uninitialized"}, {"host": host(2), "membership": "uninitialized"}]}


def test_ordinal_0_initiates_a_brand_new_set(node):
    assert node("initiateDecision", GOOD)["initiate"] is True
    assert node("initiateDecision", {**GOOD, "peers": []})["initiate"] is True  # one member


@pytest.mark.parametrize("change,why", [
    ({"ordinal": 1}, "only ordinal 0"),
    ({"self": "member"}, "this member is member"),
    ({"markerPresent": False}, "was not empty"),
    ({"recordKnown": False}, "cannot be read"),
    ({"recordId": "65f0c0ffee0000000000abcd"}, "65f0c0ffee0000000000abcd was initiated before"),
    ({"peers": [{"host": host(1), "membership": "member"}, {"host": host(2), "membership": "uninitialized"}]},
     "db-1 is member"),
    ({"peers": [{"host": host(1), "membership": "uninitialized"}, {"host": host(2), "membership": "down"}]},
     "db-2 is down"),
])
def test_every_guard_of_the_initiate_holds_on_its_own(node, change, why):
    """Pod 0 back with an empty volume (marker present again) never initiates a second set: the
    record, or any member that answers, stops it."""
    decision = node("initiateDecision", {**GOOD, **change})
    assert decision["initiate"] is False and why in decision["reason"]


# -- one change at a time --------------------------------------------------------------------------
def test_a_set_that_follows_the_statefulset_needs_nothing(node):
    p = plan(node, [member(0), member(1), member(2)], 3)
    assert p["op"] == "none" and "3 member(s), 3 voting" in p["reason"]


def test_a_missing_member_is_added_without_a_vote(node):
    p = plan(node, [member(0)], 3, answers={host(1): "uninitialized", host(2): "uninitialized"})
    assert p == {"op": "reconfig", "change": {"type": "add", "host": host(1), "_id": 1},
                 "reason": "db-1: ordinal 1 < replicas 3"}


def test_members_are_added_one_at_a_time(node):
    members = [member(0), member(1, votes=0, priority=0)]
    p = plan(node, members, 3, states={host(1): "STARTUP2"}, answers={host(2): "uninitialized"})
    assert p["op"] == "wait" and "db-1 is still syncing" in p["reason"]


def test_a_pod_that_does_not_answer_is_not_added_yet(node):
    p = plan(node, [member(0)], 3, answers={host(1): "down"})
    assert p["op"] == "wait" and "db-1 is to be added but is down" in p["reason"]
    p = plan(node, [member(0)], 3, answers={host(1): "member"})  # it holds another configuration
    assert p["op"] == "wait"


def test_a_free_member_id_is_used_when_the_ordinal_is_taken(node):
    members = [member(0), member(1, _id=2)]
    p = plan(node, members, 3, answers={host(2): "uninitialized"})
    assert p["change"]["_id"] == 3


def test_new_voters_wait_until_every_one_of_them_is_secondary(node):
    members = [member(0), member(1, 0, 0), member(2, 0, 0)]
    p = plan(node, members, 3, states={host(1): "SECONDARY", host(2): "STARTUP2"})
    assert p["op"] == "wait" and "db-2" in p["reason"]
    p = plan(node, members, 3)
    assert p["change"] == {"type": "votes", "host": host(1), "votes": 1, "priority": 1}


def test_voters_are_the_lowest_ordinals_at_most_7_and_odd(node):
    assert [node("voterTarget", n, 7) for n in range(1, 10)] == [1, 1, 3, 3, 5, 5, 7, 7, 7]


def test_departing_members_lose_their_priority_first_then_go_highest_ordinal_first(node):
    members = [member(i) for i in range(5)]
    p = plan(node, members, 3)
    assert p["change"] == {"type": "priority", "hosts": [host(4), host(3)], "priority": 0}
    members = [member(0), member(1), member(2), member(3, 1, 0), member(4, 1, 0)]
    p = plan(node, members, 3)
    assert p["change"] == {"type": "remove", "host": host(4)}
    assert "ordinal 4 >= replicas 3" in p["reason"]


def test_a_departing_primary_steps_down_before_anything_is_removed(node):
    members = [member(0), member(1), member(2, 1, 1)]
    p = plan(node, members, 1, self=2)
    assert p["change"]["hosts"] == [host(1)]  # never the primary's own priority (it must stay electable)
    members = [member(0), member(1, 1, 0), member(2)]
    assert plan(node, members, 1, self=2)["op"] == "stepdown"


def test_members_of_another_statefulset_or_ips_stop_the_agent(node):
    strange = {"_id": 9, "host": "10.1.2.3:27017", "votes": 1, "priority": 1}
    p = plan(node, [member(0), member(1), strange], 3)
    assert p["op"] == "wait" and "10.1.2.3:27017" in p["reason"]
    arbiter = {**member(2), "arbiterOnly": True}
    assert plan(node, [member(0), member(1), arbiter], 3)["op"] == "wait"


def test_no_replicas_or_no_peers_means_no_change(node):
    assert plan(node, [member(0)], 0)["op"] == "wait"
    assert plan(node, [member(0)], 3, peers=[])["op"] == "wait"


def test_apply_change_is_pure_and_bumps_the_version(node):
    config = {"_id": "rs0", "version": 4, "members": [member(0)]}
    nxt = node("applyChange", config, {"type": "add", "host": host(1), "_id": 1})
    assert nxt["version"] == 5 and nxt["members"][1] == {"_id": 1, "host": host(1), "votes": 0, "priority": 0}
    assert node("applyChange", nxt, {"type": "remove", "host": host(1)})["members"] == [member(0)]


# -- whole scale operations, replayed --------------------------------------------------------------
def voting(members):
    return {m["host"] for m in members if m.get("votes", 1) > 0}


def replay(node, start: int, replicas: int, primary: int = 0, steps: int = 60):
    """From START members (all voting) to REPLICAS, as the primary's agent would, one plan per
    round. New members spend one round in STARTUP2; a stepdown elects the lowest electable
    staying member. Returns the configurations reached and the plans taken."""
    members = [member(i) for i in range(start)]
    fresh = set()
    plans = []
    for _ in range(steps):
        states = {m["host"]: ("STARTUP2" if m["host"] in fresh else "SECONDARY") for m in members}
        states[host(primary)] = "PRIMARY"
        answers = {host(i): "uninitialized" for i in range(replicas) if host(i) not in {m["host"] for m in members}}
        p = plan(node, members, replicas, states=states, self=primary, answers=answers,
                 peers=PEERS7[:max(replicas, start)] if replicas >= start else PEERS7[:replicas])
        plans.append(p)
        fresh.clear()
        if p["op"] == "none":
            return members, plans
        if p["op"] == "wait":
            continue
        if p["op"] == "stepdown":
            electable = [m for m in members if m["priority"] > 0 and m["host"] != host(primary)]
            primary = min(PEERS7.index(m["host"].rsplit(":", 1)[0]) for m in electable)
            continue
        before = members
        members = node("applyChange", {"_id": "rs0", "version": len(plans), "members": members}, p["change"])["members"]
        # MongoDB's rule for a reconfig without force: at most one voting member added or removed
        assert len(voting(before) ^ voting(members)) <= 1, p
        assert len(voting(members)) <= 7
        assert host(primary) in {m["host"] for m in members}, "the primary is never removed"
        assert all(m["host"].split(":")[0] in PEERS7 for m in members), "members by FQDN only"
        if p["change"]["type"] == "add":
            fresh.add(p["change"]["host"])
    raise AssertionError(f"no convergence: {plans[-5:]}")


@pytest.mark.parametrize("start,replicas", [(1, 3), (3, 5), (5, 3), (3, 7), (7, 1), (7, 3), (1, 7), (5, 7), (3, 1)])
def test_scaling_converges_to_the_statefulset_with_an_odd_number_of_voters(node, start, replicas):
    members, plans = replay(node, start, replicas, primary=start - 1)
    assert sorted(m["host"] for m in members) == sorted(host(i) for i in range(replicas))
    assert len(voting(members)) == replicas  # every member votes: odd, at most 7
    assert all(m["priority"] > 0 for m in members)
    # an even number of voters only ever lasts one reconfig (the one between two grants or removals)
    changes = [p for p in plans if p["op"] == "reconfig"]
    adds = [p["change"]["host"] for p in changes if p["change"]["type"] == "add"]
    assert adds == [host(i) for i in range(start, replicas)], "added in ordinal order, one at a time"
    removes = [p["change"]["host"] for p in changes if p["change"]["type"] == "remove"]
    assert removes == [host(i) for i in reversed(range(replicas, start))], "removed highest ordinal first"


def test_during_a_scale_up_the_voters_stay_odd_until_the_new_members_hold_the_data(node):
    members, plans = replay(node, 3, 7)
    grants = [i for i, p in enumerate(plans) if p["op"] == "reconfig" and p["change"]["type"] == "votes"]
    last_add = max(i for i, p in enumerate(plans) if p["op"] == "reconfig" and p["change"]["type"] == "add")
    assert min(grants) > last_add, "no vote is granted before every new member is added and in sync"


# -- helm test ------------------------------------------------------------------------------------
def observed(states, ids=None, hosts=None, votes=3):
    return [{"host": host(i), "ok": True, "state": s, "setName": "rs0", "replicaSetId": (ids or {}).get(i, "abc"),
             "configHosts": hosts or [host(j) for j in range(len(states))], "votes": votes}
            for i, s in enumerate(states)]


def check(node, obs, replicas=3):
    return node("checkCluster", {"replicas": replicas, "peers": PEERS7[:replicas], "port": PORT, "setName": "rs0",
                                 "observed": obs})


def test_helm_test_passes_one_primary_the_rest_secondaries_one_id(node):
    report = check(node, observed(["SECONDARY", "PRIMARY", "SECONDARY"]))
    assert report == {"problems": [], "primary": host(1)}


@pytest.mark.parametrize("obs,problem", [
    (observed(["PRIMARY", "PRIMARY", "SECONDARY"]), "2 PRIMARY member(s), not 1"),
    (observed(["PRIMARY", "SECONDARY", "STARTUP2"]), "1 SECONDARY member(s), not 2"),
    (observed(["PRIMARY", "SECONDARY", "SECONDARY"], ids={2: "other"}), "replica set ids differ"),
    (observed(["PRIMARY", "SECONDARY", "SECONDARY"], hosts=["10.0.0.1:27017", host(1), host(2)]),
     "are not the pods' FQDNs"),
    (observed(["PRIMARY", "SECONDARY", "SECONDARY"], votes=2), "2 voting members"),
])
def test_helm_test_names_what_is_wrong(node, obs, problem):
    report = check(node, obs)
    assert any(problem in p for p in report["problems"]), report["problems"]
