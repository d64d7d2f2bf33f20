// decide.js: the agent's decisions as pure functions (no I/O, no mongosh API): which member to
// add or remove, who votes, whether ordinal 0 may initiate, what a pod's role is, what helm test
// requires. mongo.js require()s this very file inside mongosh; the chart tests require() it
// with Node and run it against tables of replica set configurations, so the tested code is
// the shipped code.
'use strict';

const MAX_VOTERS = 7; // MongoDB's limit on voting members
// a member still receiving its initial copy (STARTUP, STARTUP2), or catching up or stuck behind
// (RECOVERING: e.g. too stale, until its agent resyncs it; ROLLBACK): the next member waits
const SYNCING = ['STARTUP', 'STARTUP2', 'RECOVERING', 'ROLLBACK'];
// Consecutive agent rounds a member must report itself too stale before its agent wipes its data
// directory for an initial sync (resyncDecision)
const STALE_ROUNDS = 3;

// "host:port" -> "host"
function hostName(host) {
  const at = String(host).lastIndexOf(':');
  return at > 0 && /^[0-9]+$/.test(String(host).slice(at + 1)) ? String(host).slice(0, at) : String(host);
}

// Ordinal of the pod a member HOST names: its index in PEERS (the FQDNs Helm rendered, in
// ordinal order); beyond the list (a pod scaled away), the ordinal of a pod name
// <statefulset>-<n> under the same headless domain; -1 for anything else (an IP, another name).
function ordinalOf(host, peers) {
  const name = hostName(host);
  const at = peers.indexOf(name);
  if (at >= 0) return at;
  if (!peers.length) return -1;
  const dot0 = peers[0].indexOf('.');
  const sts = peers[0].slice(0, dot0).replace(/-0$/, '');
  const dot = name.indexOf('.');
  if (dot < 0 || name.slice(dot) !== peers[0].slice(dot0)) return -1;
  const m = /^(.+)-([0-9]+)$/.exec(name.slice(0, dot));
  return m && m[1] === sts ? Number(m[2]) : -1;
}

// A pod's role from its `hello` answer: primary | secondary | other
function roleOf(hello) {
  if (!hello) return 'other';
  if (hello.isWritablePrimary) return 'primary';
  if (hello.secondary) return 'secondary';
  return 'other';
}

// What a `hello` answer says about a mongod's membership:
//   down           no answer
//   uninitialized  a replica set member with no configuration (never initiated, wiped, or removed)
//   member         it holds the configuration of set `setName`
function membershipOf(hello) {
  if (!hello) return 'down';
  if (hello.setName) return 'member';
  return 'uninitialized';
}

// May this pod initiate the replica set? Only ordinal 0, only when its data directory was empty
// when its volume was first used and has held no configuration since (the marker), when it
// has no configuration itself, when the durable record (a ConfigMap, outside every volume)
// could be read and names no replica set, and when every other pod answers that it has no
// configuration either. Anything else: no, with the reason.
// in: {ordinal, markerPresent, recordKnown, recordId, self: membership, peers: [{host, membership}]}
function initiateDecision(input) {
  const no = (reason) => ({ initiate: false, reason });
  if (input.ordinal !== 0) return no('only ordinal 0 initiates a replica set');
  if (input.self !== 'uninitialized') return no(`this member is ${input.self}, not uninitialized`);
  if (!input.markerPresent) {
    return no('its data directory was not empty when this volume was first used: it never initiates');
  }
  if (!input.recordKnown) return no('the durable record (ConfigMap) cannot be read through the Kubernetes API');
  if (input.recordId) {
    return no(`replica set ${input.recordId} was initiated before (durable record): ` +
      'this member waits to be resynced by the set');
  }
  const others = input.peers.filter((p) => p.membership !== 'uninitialized');
  if (others.length) {
    return no('not every other pod answers that it is uninitialized: ' +
      others.map((p) => `${hostName(p.host).split('.')[0]} is ${p.membership}`).join(', '));
  }
  return { initiate: true, reason: 'ordinal 0, empty volume, no record, every pod uninitialized' };
}

// The configuration replSetInitiate gets: this pod alone, _id = its ordinal; the agent adds
// the others one at a time.
function initialConfig(setName, selfHost) {
  return { _id: setName, members: [{ _id: 0, host: selfHost }] };
}

function sortByOrdinal(list, desc) {
  return list.slice().sort((a, b) => (desc ? b.ord - a.ord : a.ord - b.ord));
}

// Voters the members 0..n-1 should have: the lowest ordinals, at most 7, an odd number.
function voterTarget(n, maxVoters) {
  let t = Math.min(n, maxVoters || MAX_VOTERS);
  if (t > 0 && t % 2 === 0) t -= 1;
  return t;
}

// The next change that brings the replica set configuration in line with the StatefulSet, or
// why there is none. At most one member changes its vote per change (MongoDB's rule for a
// safe reconfig), members are added one at a time (votes 0, priority 0, so a new member never
// counts towards a majority before it holds the data), departing members (ordinal >= replicas)
// lose their priority, then the primary steps down if it is departing, then they are removed
// highest ordinal first. Votes go to the lowest ordinals, at most 7 and an odd number; new
// votes are granted only once every member due one is SECONDARY, so an even count of voters
// lasts one reconfig.
// in: {members: rs.conf().members, states: {host: stateStr} (the primary's replSetGetStatus),
//      self: the primary's "host:port", peers: PEERS, port, replicas: StatefulSet spec.replicas,
//      answers: {host: membership} of pods not in the configuration, maxVoters}
// out: {op: 'none'|'wait'|'stepdown'|'reconfig', reason, change?}
//   change: {type: 'add', host, _id} | {type: 'remove', host} | {type: 'votes', host, votes, priority}
//           | {type: 'priority', hosts, priority}
function plan(input) {
  const peers = input.peers || [];
  const states = input.states || {};
  const answers = input.answers || {};
  const port = input.port;
  const replicas = input.replicas;
  const none = (reason) => ({ op: 'none', reason });
  const wait = (reason) => ({ op: 'wait', reason });
  const reconfig = (change, reason) => ({ op: 'reconfig', change, reason });
  const pod = (host) => hostName(host).split('.')[0];

  if (!Number.isInteger(replicas) || replicas < 1) return wait(`the StatefulSet has ${replicas} replicas`);
  if (!peers.length) return wait('no PEERS to follow');
  const members = input.members.map((m) => ({ m, ord: ordinalOf(m.host, peers) }));
  const strange = members.filter((x) => x.ord < 0 || x.m.arbiterOnly);
  if (strange.length) {
    return wait('member(s) ' + strange.map((x) => x.m.host).join(', ') +
      ' are not pods of this StatefulSet (or are arbiters): the agent leaves the configuration alone');
  }
  const seen = {};
  for (const x of members) {
    if (seen[x.ord]) return wait(`two members name ordinal ${x.ord}: the agent leaves the configuration alone`);
    seen[x.ord] = true;
  }
  const selfOrd = ordinalOf(input.self, peers);

  // 1. departing members: no election may pick them, the primary hands over, then they go
  const departing = sortByOrdinal(members.filter((x) => x.ord >= replicas), true);
  if (departing.length) {
    const electable = departing.filter((x) => x.ord !== selfOrd && (x.m.priority === undefined || x.m.priority > 0));
    if (electable.length) {
      return reconfig({ type: 'priority', hosts: electable.map((x) => x.m.host), priority: 0 },
        'departing member(s) ' + electable.map((x) => pod(x.m.host)).join(', ') + ' lose their priority');
    }
    if (selfOrd >= replicas) return { op: 'stepdown', reason: `the primary ${pod(input.self)} is departing` };
    const gone = departing[0];
    return reconfig({ type: 'remove', host: gone.m.host },
      `${pod(gone.m.host)}: ordinal ${gone.ord} >= replicas ${replicas}`);
  }

  // 2. missing members, one at a time, once no member is still syncing
  const want = Math.min(replicas, peers.length);
  const missing = [];
  for (let o = 0; o < want; o++) if (!seen[o]) missing.push(o);
  if (missing.length) {
    const syncing = members.filter((x) => SYNCING.includes(states[x.m.host]));
    if (syncing.length) {
      return wait(`${pod(syncing[0].m.host)} is still syncing (${states[syncing[0].m.host]}); ` +
        `${pod(peers[missing[0]])} is added after it`);
    }
    const host = `${peers[missing[0]]}:${port}`;
    if (answers[host] !== 'uninitialized') {
      return wait(`${pod(host)} is to be added but is ${answers[host] || 'down'}`);
    }
    const ids = input.members.map((m) => m._id);
    let id = missing[0];
    while (ids.includes(id)) id += 1;
    return reconfig({ type: 'add', host, _id: id }, `${pod(host)}: ordinal ${missing[0]} < replicas ${replicas}`);
  }

  // 3. votes: the lowest ordinals, at most 7, an odd number
  const ordered = sortByOrdinal(members, false);
  const target = voterTarget(ordered.length, input.maxVoters);
  const voting = (x) => (x.m.votes === undefined ? 1 : x.m.votes) > 0;
  const revoke = sortByOrdinal(ordered.filter((x, i) => i >= target && voting(x)), true);
  if (revoke.length) {
    const x = revoke[0];
    if (x.ord === selfOrd) return { op: 'stepdown', reason: `the primary ${pod(input.self)} loses its vote` };
    return reconfig({ type: 'votes', host: x.m.host, votes: 0, priority: 0 },
      `${pod(x.m.host)} stops voting (voters: the ${target} lowest ordinals)`);
  }
  const grant = ordered.filter((x, i) => i < target && !voting(x));
  if (grant.length) {
    const notReady = grant.filter((x) => states[x.m.host] !== 'SECONDARY');
    if (notReady.length) {
      return wait(`${notReady.map((x) => pod(x.m.host)).join(', ')} vote(s) once SECONDARY ` +
        `(now ${notReady.map((x) => states[x.m.host] || 'unknown').join(', ')})`);
    }
    return reconfig({ type: 'votes', host: grant[0].m.host, votes: 1, priority: 1 },
      `${pod(grant[0].m.host)} votes`);
  }
  const unelectable = ordered.filter((x, i) => i < target && x.m.priority === 0);
  if (unelectable.length) {
    return reconfig({ type: 'priority', hosts: unelectable.map((x) => x.m.host), priority: 1 },
      'voting member(s) ' + unelectable.map((x) => pod(x.m.host)).join(', ') + ' become electable');
  }
  return none(`${ordered.length} member(s), ${target} voting, as the StatefulSet has ${replicas}`);
}

// A number from a BSON numeric value as mongosh hands it over: a JS number (int32, double) or a
// Long (int64: mongosh keeps them as Long, promoteLongs: false)
function toNumber(value) {
  if (typeof value === 'number') return value;
  if (value && typeof value.toNumber === 'function') return value.toNumber();
  return Number(value);
}

// A deep copy of a document that keeps every value that is not a plain object or an array as
// it is: the BSON values mongosh hands over (ObjectId, Long, Timestamp, Date, Int32, Double...)
// stay the very same instances, so they go back to the server with their BSON type. A JSON
// round trip would turn settings.replicaSetId (objectid) into a hex string and protocolVersion or
// members[].secondaryDelaySecs (safeInt64) into {low, high, unsigned} documents, which mongod
// refuses in replSetReconfig; structuredClone drops the classes as well.
function copyDoc(value) {
  if (Array.isArray(value)) return value.map(copyDoc);
  if (value === null || typeof value !== 'object') return value;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out = {};
  for (const key of Object.keys(value)) out[key] = copyDoc(value[key]);
  return out;
}

// The configuration after CHANGE (a plan's), its version one higher; CONFIG is not modified and
// every BSON value in it keeps its type (copyDoc).
function applyChange(config, change) {
  const next = copyDoc(config);
  next.version = toNumber(config.version || 0) + 1;
  const find = (host) => next.members.find((m) => m.host === host);
  if (change.type === 'add') {
    next.members.push({ _id: change._id, host: change.host, votes: 0, priority: 0 });
  } else if (change.type === 'remove') {
    next.members = next.members.filter((m) => m.host !== change.host);
  } else if (change.type === 'votes') {
    const m = find(change.host);
    m.votes = change.votes;
    m.priority = change.priority;
  } else if (change.type === 'priority') {
    for (const host of change.hosts) find(host).priority = change.priority;
  } else {
    throw new Error(`unknown change ${change.type}`);
  }
  return next;
}

// Should this member wipe its data directory and resync? From its own replSetGetStatus (run on
// itself: only a member that is too stale reports `tooStale: true`, beside myState 3,
// RECOVERING) and how many agent rounds in a row it has said so (STALE_ROUNDS before a wipe: a
// sync source that still holds its last write may appear, as when a member with a longer oplog
// comes back). A member too stale to catch up stays RECOVERING until its data is removed and it
// performs an initial sync (MongoDB manual, "Resync a Member of a Self-Managed Replica Set");
// a member scaled back onto a retained volume is one. Only with a healthy PRIMARY to sync from.
// in: (status: replSetGetStatus of this member, or null; rounds: consecutive rounds too stale)
// out: {resync, stale, reason}
function resyncDecision(status, rounds) {
  const stale = Boolean(status && status.tooStale === true && toNumber(status.myState) === 3);
  const no = (reason) => ({ resync: false, stale, reason });
  if (!stale) return no('not too stale');
  const primary = (status.members || []).find((m) => !m.self && m.stateStr === 'PRIMARY' && toNumber(m.health) === 1);
  if (!primary) return no('too stale to catch up, and no healthy PRIMARY to resync from: waiting');
  if (rounds < STALE_ROUNDS) {
    return no(`too stale to catch up (round ${rounds}): the data directory is wiped for an initial sync ` +
      `after ${STALE_ROUNDS} rounds in a row`);
  }
  return {
    resync: true, stale,
    reason: `too stale to catch up for ${rounds} rounds (RECOVERING; ${hostName(primary.name).split('.')[0]}'s ` +
      "oplog no longer holds this member's last write): its data directory is wiped for an initial sync",
  };
}

// Voting members of a configuration
function voters(members) {
  return members.filter((m) => (m.votes === undefined ? 1 : m.votes) > 0).length;
}

// helm test: what is wrong with the set, from what each pod answered.
// in: {replicas, peers, port, setName, observed: [{host, ok, error?, state, replicaSetId, configHosts,
//      votes}]}  (one entry per pod, in ordinal order)
// out: {problems: [...], primary}
function checkCluster(input) {
  const problems = [];
  const want = input.peers.map((p) => `${p}:${input.port}`);
  const primaries = input.observed.filter((o) => o.state === 'PRIMARY');
  const secondaries = input.observed.filter((o) => o.state === 'SECONDARY');
  for (const o of input.observed) {
    if (!o.ok) problems.push(`${o.host}: ${o.error || 'no answer'}`);
  }
  if (primaries.length !== 1) problems.push(`${primaries.length} PRIMARY member(s), not 1`);
  if (secondaries.length !== input.replicas - 1) {
    problems.push(`${secondaries.length} SECONDARY member(s), not ${input.replicas - 1}`);
  }
  const ids = Array.from(new Set(input.observed.filter((o) => o.ok).map((o) => String(o.replicaSetId))));
  if (ids.length !== 1) problems.push(`replica set ids differ between members: ${ids.join(', ')}`);
  for (const o of input.observed.filter((x) => x.ok)) {
    const hosts = (o.configHosts || []).slice().sort();
    if (JSON.stringify(hosts) !== JSON.stringify(want.slice().sort())) {
      problems.push(`${o.host}: configuration members ${hosts.join(' ')} are not the pods' FQDNs ${want.join(' ')}`);
    }
    if (o.setName !== input.setName) problems.push(`${o.host}: replica set ${o.setName}, not ${input.setName}`);
  }
  const v = input.observed.length ? input.observed[0].votes : 0;
  if (v % 2 === 0 || v > MAX_VOTERS) problems.push(`${v} voting members: not an odd number up to ${MAX_VOTERS}`);
  return { problems, primary: primaries.length === 1 ? primaries[0].host : null };
}

module.exports = {
  MAX_VOTERS, STALE_ROUNDS, hostName, ordinalOf, roleOf, membershipOf, initiateDecision, initialConfig, voterTarget,
  plan, toNumber, copyDoc, applyChange, resyncDecision, voters, checkCluster,
};
