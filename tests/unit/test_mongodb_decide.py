"""The MongoDB agent's decisions (presets/mongodb/files/decide.js) and the mongosh script that acts
on them (mongo.js), the very files the chart ships, with real BSON values.

- Tables: decide.js' functions run by Node with npm bson (tests/js, pinned): every argument goes
  through the real BSON wire round trip mongosh's driver applies to a server reply (serialized,
  then deserialized with promoteLongs: false, mongosh's setting), so a configuration arrives with
  its ObjectId, Long, Int32 and Double values as they reach the agent; results come back as
  canonical Extended JSON, so a test sees every BSON type. Which member to add or remove, who
  votes, whether ordinal 0 may initiate, when a stale member resyncs, and what helm test requires.
- Replays (tests/js/run.js): whole installs, scale-ups, scale-downs, failovers and step-downs
  played through the shipped mongo.js + decide.js, unchanged, in the real mongosh (mongo.js
  load()ed as in the pods, mongosh's own BSON classes) and in Node with npm bson 6, against a
  stand-in for the mongod processes (tests/js/replset.js) that answers hello, replSetGetStatus
  and replSetGetConfig in MongoDB 8.0's shapes and BSON types and checks every command document
  it receives against the server's IDL field types (tests/js/wire.js). mongod itself never runs
  here (no MongoDB binary or image exists on this machine): what is proven is that the documents
  the agent sends would parse, and that its decisions hold MongoDB's rules at every reconfig (one
  voting change at most, never more than 7 voters, an odd number of voters at rest, members by
  FQDN only)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from chartgen.presets import load
from tests.jsdeps import JS, MONGOSH, node_modules, pinned

FILES = load("mongodb").path / "files"
DECIDE = FILES / "decide.js"
PORT = 27017
PEERS7 = [f"db-{i}.db-headless.ns.svc.cluster.local" for i in range(7)]

# A Node process that calls decide.js's functions: one JSON request per line, one answer per line.
# Arguments are canonical Extended JSON made into what mongosh hands the agent (the BSON wire
# round trip of a server reply, promoteLongs: false); answers are canonical Extended JSON.
DRIVER = """
const decide = require(process.argv[1]);
const BSON = require(process.argv[2]);
const rl = require('readline').createInterface({input: process.stdin});
rl.on('line', (line) => {
  const req = JSON.parse(line);
  let out;
  try {
    const wire = BSON.serialize({ a: BSON.EJSON.parse(JSON.stringify(req.args), { relaxed: false }) });
    const args = BSON.deserialize(wire, { promoteLongs: false }).a;
    out = {ok: BSON.EJSON.serialize({ r: decide[req.fn](...args) }, { relaxed: false }).r};
  } catch (e) { out = {error: String(e && e.stack || e)}; }
  process.stdout.write(JSON.stringify(out === undefined ? {ok: null} : out) + '\\n');
});
"""


def plain(value):
    """Canonical Extended JSON with its int32 and double numbers as Python numbers (what the tables
    compare); Long ($numberLong), ObjectId ($oid) and the other BSON types stay tagged."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$numberInt"}:
            return int(value["$numberInt"])
        if set(value) == {"$numberDouble"}:
            number = float(value["$numberDouble"])
            return int(number) if number.is_integer() else number
        return {k: plain(v) for k, v in value.items()}
    return value


def oid(hex24: str) -> dict:
    return {"$oid": hex24}


def long(n: int) -> dict:
    return {"$numberLong": str(n)}


def double(x: float) -> dict:
    return {"$numberDouble": repr(float(x))}


@pytest.fixture(scope="module")
def node():
    exe = shutil.which("node")
    assert exe, "node is missing (Debian's nodejs): the mongodb preset's JavaScript is tested with it"
    bson = node_modules() / "bson"
    proc = subprocess.Popen([exe, "-e", DRIVER, str(DECIDE), str(bson)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)

    def call(fn, *args, raw=False):
        proc.stdin.write(json.dumps({"fn": fn, "args": list(args)}) + "\n")
        proc.stdin.flush()
        out = json.loads(proc.stdout.readline())
        assert "error" not in out, out["error"]
        return out["ok"] if raw else plain(out["ok"])

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


# A replica set configuration exactly as replSetGetConfig returns it from MongoDB 8.0 (the manual's
# rs.conf() example; repl_set_config.idl, member_config.idl: version and term are smallExactInt64,
# written as int32 when they fit; protocolVersion and secondaryDelaySecs are safeInt64, written as
# int64; priority a double; replicaSetId an ObjectId).
RSID = "65f0c0ffee0000000000abcd"


def conf_member(i: int, votes: int = 1, priority: float = 1) -> dict:
    return {"_id": i, "host": host(i), "arbiterOnly": False, "buildIndexes": True, "hidden": False,
            "priority": double(priority), "tags": {}, "secondaryDelaySecs": long(0), "votes": votes}


def server_config(members: list[dict], version: int = 3) -> dict:
    return {"_id": "rs0", "version": version, "term": 2, "members": members, "protocolVersion": long(1),
            "writeConcernMajorityJournalDefault": True,
            "settings": {"chainingAllowed": True, "heartbeatIntervalMillis": 2000, "heartbeatTimeoutSecs": 10,
                         "electionTimeoutMillis": 10000, "catchUpTimeoutMillis": -1,
                         "catchUpTakeoverDelayMillis": 30000, "getLastErrorModes": {},
                         "getLastErrorDefaults": {"w": 1, "wtimeout": 0}, "replicaSetId": oid(RSID)}}


@pytest.mark.parametrize("change", [
    {"type": "add", "host": host(1), "_id": 1},
    {"type": "votes", "host": host(0), "votes": 1, "priority": 1},
    {"type": "priority", "hosts": [host(0)], "priority": 0},
    {"type": "remove", "host": host(1)},
])
def test_apply_change_keeps_every_bson_type_of_the_configuration(node, change):
    """The configuration goes back to mongod in replSetReconfig: its ObjectId must stay an ObjectId
    and its Longs Longs (repl_set_config.idl: replicaSetId objectid, protocolVersion safeInt64;
    member_config.idl: secondaryDelaySecs safeInt64), or mongod refuses every reconfig and the set
    never grows past its first member."""
    config = server_config([conf_member(0), conf_member(1, votes=0, priority=0)])
    if change["type"] == "add":
        config = server_config([conf_member(0)])
    nxt = node("applyChange", config, change, raw=True)
    assert nxt["settings"]["replicaSetId"] == {"$oid": RSID}
    assert nxt["protocolVersion"] == {"$numberLong": "1"}
    assert all(m["secondaryDelaySecs"] == {"$numberLong": "0"} for m in nxt["members"] if "secondaryDelaySecs" in m)
    assert nxt["version"] == {"$numberInt": "4"}
    assert plain(nxt["settings"]["getLastErrorDefaults"]) == {"w": 1, "wtimeout": 0}


def test_apply_change_keeps_the_values_it_does_not_change_untouched(node):
    config = server_config([conf_member(0), conf_member(1, priority=0.5)])
    nxt = node("applyChange", config, {"type": "priority", "hosts": [host(0)], "priority": 2}, raw=True)
    assert nxt["members"][1]["priority"] == {"$numberDouble": "0.5"}
    assert plain(nxt["members"][0]["priority"]) == 2
    assert plain(config["members"][0]["priority"]) == 1  # the input is not modified


def test_the_copy_keeps_non_plain_objects_as_they_are(node):
    value = {"a": [oid(RSID), {"b": long(7)}], "t": {"$timestamp": {"t": 1723763173, "i": 1}},
             "d": {"$date": {"$numberLong": "1723763173000"}}}
    assert node("copyDoc", value, raw=True) == {
        "a": [{"$oid": RSID}, {"b": {"$numberLong": "7"}}], "t": {"$timestamp": {"t": 1723763173, "i": 1}},
        "d": {"$date": {"$numberLong": "1723763173000"}}}


# -- a member too stale to catch up ---------------------------------------------------------------
def own_status(my_state: int = 3, too_stale: bool = True, primary_health: int = 1) -> dict:
    """replSetGetStatus as a stale member answers it about itself (topology_coordinator.cpp:
    prepareStatusResponse appends tooStale: true; term is a Long, health a double)."""
    out = {"set": "rs0", "date": {"$date": {"$numberLong": "1723763173978"}}, "myState": my_state,
           "term": long(3), "syncSourceHost": "", "syncSourceId": -1,
           "members": [
               {"_id": 0, "name": host(0), "health": double(primary_health), "state": 1, "stateStr": "PRIMARY",
                "optime": {"ts": {"$timestamp": {"t": 1723763173, "i": 1}}, "t": long(3)}},
               {"_id": 3, "name": host(3), "health": double(1), "state": my_state,
                "stateStr": {1: "PRIMARY", 2: "SECONDARY", 3: "RECOVERING"}[my_state], "self": True,
                "optime": {"ts": {"$timestamp": {"t": 1700000000, "i": 1}}, "t": long(1)}},
           ], "ok": double(1)}
    if too_stale:
        out["tooStale"] = True
    return out


def test_a_member_too_stale_to_catch_up_resyncs_after_three_rounds(node):
    assert node("resyncDecision", own_status(), 1) == {
        "resync": False, "stale": True,
        "reason": "too stale to catch up (round 1): the data directory is wiped for an initial sync after 3 rounds "
                  "in a row"}
    assert node("resyncDecision", own_status(), 2)["resync"] is False
    decision = node("resyncDecision", own_status(), 3)
    assert decision["resync"] is True and "db-0's oplog no longer holds this member's last write" in decision["reason"]


@pytest.mark.parametrize("status,why", [
    (own_status(too_stale=False), "not too stale"),
    (own_status(my_state=2, too_stale=False), "not too stale"),
    (own_status(primary_health=0), "no healthy PRIMARY"),
    (None, "not too stale"),
])
def test_no_resync_unless_mongod_says_too_stale_and_a_primary_can_feed_it(node, status, why):
    decision = node("resyncDecision", status, 9)
    assert decision["resync"] is False and why in decision["reason"]


def test_a_recovering_member_holds_back_the_next_one(node):
    """A member re-added onto a retained volume whose last write fell off the oplog stays
    RECOVERING until its agent resyncs it: no next member is added meanwhile."""
    members = [member(0), member(1), member(2), member(3, 0, 0)]
    p = plan(node, members, 5, states={host(3): "RECOVERING"}, answers={host(4): "uninitialized"})
    assert p["op"] == "wait" and "db-3 is still syncing (RECOVERING)" in p["reason"]


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


# -- the shipped mongo.js, in the real mongosh and in Node with npm bson ----------------------------
# Each scenario: steps from a fresh install; `until` plays agent rounds (every running pod's agent,
# in ordinal order, then 5 s pass) until the set follows the StatefulSet, `rounds` plays that many.
SCENARIOS = [
    {"name": "install-3-and-helm-test", "steps": [
        {"do": "install", "replicas": 3, "rounds": 1}, {"do": "probes"}, {"do": "rounds", "until": "converged"},
        {"do": "probes"}, {"do": "test"}]},
    {"name": "scale-1-7-1", "steps": [
        {"do": "install", "replicas": 1, "until": "converged"}, {"do": "scale", "replicas": 7, "until": "converged"},
        {"do": "test"}, {"do": "scale", "replicas": 1, "until": "converged"}, {"do": "test"}]},
    {"name": "scale-3-5-3-then-back-onto-stale-volumes", "steps": [
        {"do": "install", "replicas": 3, "until": "converged"}, {"do": "scale", "replicas": 5, "until": "converged"},
        {"do": "scale", "replicas": 3, "until": "converged"},
        {"do": "scale", "replicas": 5, "stale": True, "rounds": 2}, {"do": "probes"},
        {"do": "rounds", "until": "converged", "max": 60}, {"do": "test"}]},
    {"name": "failover-primary-killed", "steps": [
        {"do": "install", "replicas": 3, "until": "converged"}, {"do": "kill", "pod": "primary", "rounds": 2},
        {"do": "restart", "pod": "db-0", "until": "converged"}, {"do": "test"}]},
    {"name": "failover-primary-frozen", "steps": [
        {"do": "install", "replicas": 3, "until": "converged"}, {"do": "freeze", "pod": "primary", "rounds": 2},
        {"do": "thaw", "pod": "db-0", "until": "converged"}, {"do": "test"}]},
    {"name": "prestop-stepdown-long-catch-up-app-user", "catchUpSeconds": 30, "appUser": True, "steps": [
        {"do": "install", "replicas": 5, "until": "converged"}, {"do": "stepdown", "until": "converged"},
        {"do": "test"}]},
    {"name": "scale-down-a-departing-primary", "steps": [
        {"do": "install", "replicas": 3, "until": "converged"}, {"do": "kill", "pod": "db-0", "rounds": 1},
        {"do": "restart", "pod": "db-0", "until": "converged"}, {"do": "scale", "replicas": 1, "until": "converged"},
        {"do": "test"}]},
]


def _replay(runtime: str, tmp_path_factory) -> dict:
    modules = node_modules()
    work = tmp_path_factory.mktemp(f"replay-{runtime}")
    (work / "scenarios.json").write_text(json.dumps(SCENARIOS))
    env = {**os.environ, "SCENARIOS": str(work / "scenarios.json"), "OUT": str(work / "out.json"),
           "JS_DIR": str(FILES), "TESTS_JS": str(JS)}
    if runtime == "mongosh":
        argv = [str(MONGOSH), "--nodb", "--quiet", "--norc", str(JS / "run.js")]
        env["HOME"] = str(work)  # mongosh writes its own files under $HOME/.mongodb
    else:
        argv = [shutil.which("node"), str(JS / "run.js")]
        env["BSON_MODULE"] = str(modules / "bson")
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {r["name"]: r for r in json.loads((work / "out.json").read_text())}


@pytest.fixture(scope="module")
def replays(tmp_path_factory):
    """Every scenario in both runtimes (one mongosh process: its start takes seconds)."""
    return {runtime: _replay(runtime, tmp_path_factory) for runtime in ("mongosh", "node")}


RUNTIMES = ["mongosh", "node"]


def test_the_runtimes_are_the_pinned_ones(replays):
    version = subprocess.run([str(MONGOSH), "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    assert version == pinned("mongosh")
    assert json.loads((node_modules() / "bson" / "package.json").read_text())["version"] == pinned("bson")
    assert {r["runtime"] for r in replays["mongosh"].values()} == {"mongosh"}
    assert {r["runtime"] for r in replays["node"].values()} == {"node"}


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", [s["name"] for s in SCENARIOS])
def test_every_scenario_converges_with_every_command_as_mongod_parses_it(replays, runtime, name):
    """Every step ends with the configuration naming exactly the StatefulSet's pods by FQDN, one
    PRIMARY, every other member SECONDARY, an odd number of voters up to 7; no command document
    carried a field of a BSON type mongod refuses, or a field it does not know, and no client
    connection would give up before mongod answers; the helm test passes."""
    r = replays[runtime][name]
    assert not r["problems"], "\n".join(r["problems"][:10])
    assert all(step["converged"] for step in r["steps"]), r["steps"]
    assert r["tests"] and all(t["code"] == 0 and t["lines"][-1].startswith("log OK: 1 PRIMARY") for t in r["tests"]), \
        r["tests"]
    assert all(m["host"].rsplit(":", 1)[0] in PEERS7 for m in r["members"])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_every_command_the_agent_and_scripts_send_was_checked(replays, runtime):
    sent = {c["name"] for r in replays[runtime].values() for c in r["commands"]}
    assert sent >= {"hello", "ping", "replSetInitiate", "replSetReconfig", "replSetGetConfig", "replSetGetStatus",
                    "replSetStepDown", "createUser", "usersInfo", "getDefaultRWConcern", "setDefaultRWConcern",
                    "shutdown", "insert", "delete"}, sent
    assert not [c for r in replays[runtime].values() for c in r["commands"] if c["problems"]]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_reconfig_arrives_with_the_configurations_bson_types(replays, runtime):
    reconfigs = [json.loads(c["ejson"]) for c in replays[runtime]["install-3-and-helm-test"]["commands"]
                 if c["name"] == "replSetReconfig"]
    assert len(reconfigs) == 4  # db-1 added, db-2 added, db-1 votes, db-2 votes
    for cmd in reconfigs:
        config = cmd["replSetReconfig"]
        assert set(config["settings"]["replicaSetId"]) == {"$oid"}
        assert config["protocolVersion"] == {"$numberLong": "1"}
        assert set(config["version"]) == {"$numberInt"}
        for m in config["members"]:
            assert set(m.get("secondaryDelaySecs", {"$numberLong": "0"})) == {"$numberLong"}
        assert cmd["maxTimeMS"] == {"$numberInt": "15000"}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_members_are_added_in_ordinal_order_and_removed_highest_first(replays, runtime):
    logs = replays[runtime]["scale-1-7-1"]["logs"]
    adds = [line.split(": ")[2].split(":")[0] for line in logs if "< replicas 7" in line]
    assert adds == [f"db-{i}" for i in range(1, 7)]
    removes = [line.split(": ")[2].split(":")[0] for line in logs if ">= replicas 1" in line]
    assert removes == [f"db-{i}" for i in range(6, 0, -1)]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_probes_answer_from_the_members_state(replays, runtime):
    probes = replays[runtime]["install-3-and-helm-test"]["probes"]
    assert all(p["live"] == 0 for p in probes)  # alive whatever the state
    for p in probes:
        assert (p["ready"] == 0) is (p["state"] in ("PRIMARY", "SECONDARY")), p
        assert ("member yes" in p["member"]) is (p["state"] in ("PRIMARY", "SECONDARY")), p
    stale = [p for p in replays[runtime]["scale-3-5-3-then-back-onto-stale-volumes"]["probes"] if p["state"] == "RECOVERING"]
    assert stale and all(p["ready"] == 1 and p["live"] == 0 for p in stale)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_member_back_on_a_stale_volume_is_wiped_once_and_resyncs(replays, runtime):
    r = replays[runtime]["scale-3-5-3-then-back-onto-stale-volumes"]
    assert r["wiped"] == {"db-0": 0, "db-1": 0, "db-2": 0, "db-3": 1, "db-4": 1}
    assert any("too stale to catch up for 3 rounds" in line for line in r["logs"])
    assert r["states"] == {"db-0": "PRIMARY", **{f"db-{i}": "SECONDARY" for i in range(1, 5)}}


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("name", ["failover-primary-killed", "failover-primary-frozen"])
def test_after_a_failover_the_new_primarys_agent_takes_over(replays, runtime, name):
    r = replays[runtime][name]
    assert r["steps"][1]["primary"] == "db-1"  # elected once db-0 was gone
    assert any(note.startswith("db-1: 3 member(s), 3 voting") for note in r["notes"])
    assert r["states"]["db-0"] == "SECONDARY" and r["primary"] == "db-1"  # back as a secondary


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_step_down_waits_as_long_as_the_catch_up_it_asks_for(replays, runtime):
    r = replays[runtime]["prestop-stepdown-long-catch-up-app-user"]
    (stepdown,) = [c for c in r["commands"] if c["name"] == "replSetStepDown"]
    cmd = json.loads(stepdown["ejson"])
    assert cmd["replSetStepDown"] == {"$numberInt": "60"} and cmd["secondaryCatchUpPeriodSecs"] == {"$numberInt": "30"}
    assert stepdown["socketTimeoutMS"] >= 30000 + 2000
    assert r["actions"][0]["newPrimary"] != r["actions"][0]["pod"]
    users = [json.loads(c["ejson"]) for c in r["commands"] if c["name"] == "createUser"]
    assert [u["createUser"] for u in users] == ["root", "shop"]
    assert users[1]["roles"] == [{"role": "readWrite", "db": "orders"}]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_departing_primary_hands_over_before_it_is_removed(replays, runtime):
    r = replays[runtime]["scale-down-a-departing-primary"]
    assert any("stepping down: the primary db-1 is departing" in line for line in r["logs"])
    assert r["members"] == [{"host": host(0), "_id": 0, "votes": 1, "priority": 1}]
