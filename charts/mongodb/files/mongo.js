// mongo.js: what the chart's scripts ask of MongoDB, run by mongosh --nodb (lib.sh: js). ACTION
// (environment) says what to do; the decisions are decide.js's pure functions. It opens its own
// connections; passwords come from the environment, never from a command line. It prints one
// line per fact for the calling script: "role <r>", "member yes", "replset <id>", "log <text>"
// (always logged), "note <text>" (logged when it changes).
//   live      mongod answers ping                                  (liveness)
//   ready     mongod is PRIMARY or SECONDARY                        (readiness)
//   agent     one round of the agent: role; initiate (ordinal 0, guarded); on the primary: root
//             and application users, default write concern, members following the StatefulSet
//   stepdown  on the primary: step down with a catch-up period      (preStop)
//   member    is this mongod still in a replica set configuration?  (preStop of a departing pod)
//   shutdown  shut this mongod down (agent.sh, after it asked for a resync: mongod.sh wipes the
//             data directory on the restart)
//   test      helm test
// On a member that is neither PRIMARY nor SECONDARY, `agent` also prints "stale <rounds>" while
// mongod says it is too stale to catch up, and "resync <why>" once decide.js' resyncDecision says
// its data directory must go (agent.sh then writes the resync marker and runs `shutdown`).
// Env: ACTION PORT REPLICA_SET POD_NAME PEERS SCRIPTS_DIR ROOT_USER MONGODB_ROOT_PASSWORD
//      [APP_USER APP_DATABASE MONGODB_PASSWORD] [agent: MARKER RECORD_KNOWN RECORD_ID REPLICAS
//      TOPO_PEERS STEP_BUDGET_SECONDS STALE_ROUNDS] [STEPDOWN_CATCHUP_SECONDS] [test: REPLICAS]
'use strict';
const decide = require(`${process.env.JS_DIR || '/js'}/decide.js`);

const env = process.env;
const PORT = Number(env.PORT || 27017);
const LOCAL = `127.0.0.1:${PORT}`;
const peersOf = (list) => String(list || '').split(/\s+/).filter((p) => p);
const PEERS = peersOf(env.PEERS);
const SELF_NAME = PEERS.find((p) => p.split('.')[0] === env.POD_NAME) || '';
const SELF = `${SELF_NAME}:${PORT}`;
const ORDINAL = Number(String(env.POD_NAME || '').replace(/.*-/, ''));

function say(kind, text) { print(`${kind} ${String(text).replace(/\s+/g, ' ')}`); }
function errText(e) { return (e && (e.codeName ? `${e.codeName}: ${e.message}` : e.message)) || String(e); }

// What mongod may take to answer, by what a connection is for: the client waits that long and
// SOCKET_MARGIN_MS more before it gives up on a reply (socketTimeoutMS), so it never abandons a
// reconfig, a step-down or a majority write that the server then completes.
const RECONFIG_MAX_MS = 15000; // replSetReconfig's maxTimeMS
const TEST_WTIMEOUT_MS = 15000; // the helm test's majority writes
const SOCKET_MARGIN_MS = 10000;
const CATCHUP_SECONDS = Number(env.STEPDOWN_CATCHUP_SECONDS || 10);
const STEPDOWN_WAIT_MS = 1000 * CATCHUP_SECONDS; // replSetStepDown waits up to secondaryCatchUpPeriodSecs

// A direct connection to one mongod (no discovery; reads allowed on a secondary), short timeouts
// to connect; replies are awaited WAIT_MS (the longest the server may take) + SOCKET_MARGIN_MS.
function connect(host, waitMs) {
  const ms = 3000;
  const socketMs = Math.max(4 * ms, (waitMs || 0) + SOCKET_MARGIN_MS);
  return new Mongo(`mongodb://${host}/?directConnection=true&readPreference=primaryPreferred&serverSelectionTimeoutMS=${ms}` +
    `&connectTimeoutMS=${ms}&socketTimeoutMS=${socketMs}&appName=chartgen-${env.ACTION}`);
}

// `hello` of HOST (pre-authentication), or null when it does not answer
function helloOf(host) {
  let conn = null;
  try {
    conn = connect(host);
    return conn.getDB('admin').runCommand({ hello: 1 });
  } catch (e) {
    return null;
  } finally {
    if (conn) conn.close();
  }
}

// An authenticated connection to HOST as the root user, or null (the reason is logged)
function rootConnection(host, quiet, waitMs) {
  try {
    const conn = connect(host, waitMs);
    conn.getDB('admin').auth(env.ROOT_USER, env.MONGODB_ROOT_PASSWORD);
    return conn;
  } catch (e) {
    if (!quiet) say('note', `cannot authenticate as ${env.ROOT_USER} on ${host}: ${errText(e)}`);
    return null;
  }
}

// On the primary: the root user, created once through the localhost exception (no user exists
// yet, the connection comes from 127.0.0.1), then an authenticated connection.
function ensureRoot() {
  const conn = rootConnection(LOCAL, true, RECONFIG_MAX_MS);
  if (conn) return conn;
  try {
    connect(LOCAL).getDB('admin').runCommand({
      createUser: env.ROOT_USER, pwd: env.MONGODB_ROOT_PASSWORD, roles: [{ role: 'root', db: 'admin' }],
    });
    say('log', `created the root user ${env.ROOT_USER} (localhost exception)`);
  } catch (e) {
    say('note', `cannot authenticate as ${env.ROOT_USER} and cannot create it (${errText(e)}): ` +
      'does the Secret still hold the password the user was created with?');
    return null;
  }
  return rootConnection(LOCAL, false, RECONFIG_MAX_MS);
}

// The optional application user, readWrite on its database, created once
function ensureAppUser(conn) {
  if (!env.APP_USER) return;
  const db = conn.getDB(env.APP_DATABASE);
  const found = db.runCommand({ usersInfo: env.APP_USER });
  if (found.users && found.users.length) return;
  db.runCommand({
    createUser: env.APP_USER, pwd: env.MONGODB_PASSWORD, roles: [{ role: 'readWrite', db: env.APP_DATABASE }],
  });
  say('log', `created the user ${env.APP_USER} (readWrite on ${env.APP_DATABASE})`);
}

// Writes are acknowledged by a majority unless a client asks otherwise (cluster-wide default)
function ensureWriteConcern(conn) {
  const admin = conn.getDB('admin');
  const rw = admin.runCommand({ getDefaultRWConcern: 1 });
  const wc = rw.defaultWriteConcern || {};
  if (rw.defaultWriteConcernSource === 'global' && wc.w === 'majority') return;
  admin.runCommand({ setDefaultRWConcern: 1, defaultWriteConcern: { w: 'majority' }, writeConcern: { w: 'majority' } });
  say('log', 'default write concern set to majority');
}

// CONN: a connection made with STEPDOWN_WAIT_MS
function stepDown(conn) {
  const secs = CATCHUP_SECONDS;
  try {
    conn.getDB('admin').runCommand({ replSetStepDown: Math.max(60, secs + 1), secondaryCatchUpPeriodSecs: secs });
  } catch (e) {
    // a successful step-down closes the connection; anything else says why
    if (!/closed|network|socket|ECONNRESET/i.test(errText(e))) throw e;
  }
}

// ---- agent ----------------------------------------------------------------------------------

function maybeInitiate() {
  const input = {
    ordinal: ORDINAL, markerPresent: env.MARKER === '1', recordKnown: env.RECORD_KNOWN === '1',
    recordId: env.RECORD_ID || '', self: 'uninitialized', peers: [],
  };
  let d = decide.initiateDecision(input);
  if (d.initiate) { // only then ask the other pods
    const peers = peersOf(env.TOPO_PEERS).length ? peersOf(env.TOPO_PEERS) : PEERS;
    for (const p of peers) {
      if (p !== SELF_NAME) input.peers.push({ host: `${p}:${PORT}`, membership: decide.membershipOf(helloOf(`${p}:${PORT}`)) });
    }
    d = decide.initiateDecision(input);
  }
  if (!d.initiate) {
    say('note', `not initiating: ${d.reason}`);
    return;
  }
  try {
    connect(LOCAL).getDB('admin').runCommand({ replSetInitiate: decide.initialConfig(env.REPLICA_SET, SELF) });
  } catch (e) {
    say('log', `replSetInitiate failed (retried next round): ${errText(e)}`);
    return;
  }
  say('log', `initiated replica set ${env.REPLICA_SET} with ${SELF} (${d.reason})`);
  for (let i = 0; i < 60 && decide.roleOf(helloOf(LOCAL)) !== 'primary'; i++) sleep(500);
  primaryDuties();
}

// Members of the configuration not yet in it: what their pods answer
function answersFor(peers, conf) {
  const inConfig = conf.members.map((m) => m.host);
  const out = {};
  const want = Math.min(Number(env.REPLICAS), peers.length);
  for (let i = 0; i < want; i++) {
    const host = `${peers[i]}:${PORT}`;
    if (!inConfig.includes(host)) out[host] = decide.membershipOf(helloOf(host));
  }
  return out;
}

function primaryDuties() {
  const conn = ensureRoot();
  if (!conn) return;
  const admin = conn.getDB('admin');
  let got = admin.runCommand({ replSetGetConfig: 1, commitmentStatus: true });
  say('replset', got.config.settings.replicaSetId.toHexString());
  ensureAppUser(conn);
  ensureWriteConcern(conn);
  const peers = peersOf(env.TOPO_PEERS);
  if (!peers.length || !/^[0-9]+$/.test(env.REPLICAS || '')) {
    say('note', 'the StatefulSet and PEERS cannot be read (Kubernetes API): members are left as they are');
    return;
  }
  const budget = Date.now() + 1000 * Number(env.STEP_BUDGET_SECONDS || 20);
  while (Date.now() < budget) {
    const status = admin.runCommand({ replSetGetStatus: 1 });
    const states = {};
    for (const m of status.members) states[m.name] = m.stateStr;
    const p = decide.plan({
      members: got.config.members, states, self: SELF, peers, port: PORT, replicas: Number(env.REPLICAS),
      answers: answersFor(peers, got.config), maxVoters: decide.MAX_VOTERS,
    });
    if (p.op === 'none' || p.op === 'wait') {
      say('note', p.reason);
      return;
    }
    if (p.op === 'stepdown') {
      say('log', `stepping down: ${p.reason}`);
      const sd = rootConnection(LOCAL, false, STEPDOWN_WAIT_MS);
      if (sd) stepDown(sd);
      return;
    }
    if (!got.commitmentStatus) { // MongoDB accepts the next reconfig only then
      sleep(1000);
      got = admin.runCommand({ replSetGetConfig: 1, commitmentStatus: true });
      if (!got.commitmentStatus && Date.now() >= budget) {
        say('note', `next: ${p.reason}; configuration ${got.config.version} is not committed yet`);
      }
      continue;
    }
    const next = decide.applyChange(got.config, p.change);
    try {
      admin.runCommand({ replSetReconfig: next, maxTimeMS: RECONFIG_MAX_MS });
    } catch (e) {
      say('log', `reconfig to version ${next.version} (${p.reason}) failed: ${errText(e)}`);
      return;
    }
    say('log', `configuration ${next.version}: ${p.reason} (${decide.voters(next.members)} voting of ` +
      `${next.members.length})`);
    got = admin.runCommand({ replSetGetConfig: 1, commitmentStatus: true });
  }
}

function agent() {
  const hello = helloOf(LOCAL);
  if (!hello) {
    say('role', 'other');
    say('note', 'mongod does not answer');
    return;
  }
  const role = decide.roleOf(hello);
  say('role', role);
  const membership = decide.membershipOf(hello);
  if (membership === 'member') say('member', 'yes');
  if (membership === 'uninitialized') {
    maybeInitiate();
    return;
  }
  if (hello.isWritablePrimary) primaryDuties();
  else if (role === 'other') staleness();
}

// A member that is neither PRIMARY nor SECONDARY: is it too stale to catch up (a volume kept
// while its pod was scaled away, an outage longer than the oplog)? Then, after a few rounds, its
// data directory goes and it performs an initial sync (decide.js: resyncDecision).
function staleness() {
  const conn = rootConnection(LOCAL, true);
  if (!conn) return;
  let status = null;
  try {
    status = conn.getDB('admin').runCommand({ replSetGetStatus: 1 });
  } catch (e) {
    say('note', `replSetGetStatus: ${errText(e)}`);
    return;
  }
  const d = decide.resyncDecision(status, Number(env.STALE_ROUNDS || 0) + 1);
  if (!d.stale) return;
  say('stale', Number(env.STALE_ROUNDS || 0) + 1);
  if (d.resync) say('resync', d.reason);
  else say('note', d.reason);
}

// ---- helm test ------------------------------------------------------------------------------

function observe(host) {
  const conn = rootConnection(host, true, TEST_WTIMEOUT_MS);
  if (!conn) return { host, ok: false, error: 'cannot connect and authenticate as root' };
  try {
    const admin = conn.getDB('admin');
    const hello = admin.runCommand({ hello: 1 });
    const conf = admin.runCommand({ replSetGetConfig: 1 }).config;
    const state = hello.isWritablePrimary ? 'PRIMARY' : (hello.secondary ? 'SECONDARY' : 'OTHER');
    return {
      host, ok: true, conn, state, setName: conf._id, replicaSetId: conf.settings.replicaSetId.toHexString(),
      configHosts: conf.members.map((m) => m.host), votes: decide.voters(conf.members),
    };
  } catch (e) {
    return { host, ok: false, error: errText(e) };
  }
}

function test() {
  const observed = [];
  for (const p of PEERS) observed.push(observe(`${p}:${PORT}`));
  const report = decide.checkCluster({
    replicas: Number(env.REPLICAS), peers: PEERS, port: PORT, setName: env.REPLICA_SET, observed,
  });
  for (const o of observed) say('log', `${o.host}: ${o.ok ? `${o.state}, replica set id ${o.replicaSetId}` : o.error}`);
  if (report.problems.length) {
    for (const problem of report.problems) say('log', `FAIL: ${problem}`);
    quit(1);
  }
  const primary = observed.find((o) => o.host === report.primary);
  const id = `chartgen-test-${Date.now()}`;
  primary.conn.getDB('chartgen_test').getCollection('checks')
    .insertOne({ _id: id, at: new Date() }, { writeConcern: { w: 'majority', wtimeout: TEST_WTIMEOUT_MS } });
  for (const o of observed) {
    let found = null;
    for (let i = 0; i < 60 && !found; i++) {
      found = o.conn.getDB('chartgen_test').getCollection('checks').findOne({ _id: id });
      if (!found) sleep(500);
    }
    if (!found) {
      say('log', `FAIL: ${o.host} does not have the majority-acknowledged write ${id} after 30 s`);
      quit(1);
    }
  }
  primary.conn.getDB('chartgen_test').getCollection('checks')
    .deleteOne({ _id: id }, { writeConcern: { w: 'majority', wtimeout: TEST_WTIMEOUT_MS } });
  say('log', `OK: 1 PRIMARY (${report.primary.split('.')[0]}), ${observed.length - 1} SECONDARY, replica set ` +
    `${env.REPLICA_SET} id ${observed[0].replicaSetId} on every member, ${observed[0].votes} voting, ` +
    'a majority-acknowledged write read back from every member');
}

// ---- dispatch -------------------------------------------------------------------------------

function main() {
  switch (env.ACTION) {
    case 'live':
      connect(LOCAL).getDB('admin').runCommand({ ping: 1 });
      return;
    case 'ready': {
      const hello = connect(LOCAL).getDB('admin').runCommand({ hello: 1 });
      if (hello.isWritablePrimary || hello.secondary) return;
      say('note', `not PRIMARY or SECONDARY: ${hello.info || JSON.stringify(hello.topologyVersion || {})}`);
      quit(1);
      return;
    }
    case 'agent':
      agent();
      return;
    case 'stepdown': {
      const hello = helloOf(LOCAL);
      if (!hello || !hello.isWritablePrimary) {
        say('role', decide.roleOf(hello));
        return;
      }
      if ((hello.hosts || []).length < 2) {
        say('log', 'the only electable member: nothing to hand over to');
        return;
      }
      const conn = rootConnection(LOCAL, false, STEPDOWN_WAIT_MS);
      if (!conn) return;
      stepDown(conn);
      say('role', decide.roleOf(helloOf(LOCAL)));
      return;
    }
    case 'shutdown': {
      const conn = rootConnection(LOCAL);
      if (!conn) return;
      try {
        conn.getDB('admin').runCommand({ shutdown: 1 });
      } catch (e) {
        // the connection closes as mongod goes down; anything else says why
        if (!/closed|network|socket|ECONNRESET/i.test(errText(e))) throw e;
      }
      say('log', 'mongod shut down');
      return;
    }
    case 'member': {
      const hello = helloOf(LOCAL);
      say('role', decide.roleOf(hello));
      if (decide.membershipOf(hello) === 'member') say('member', 'yes');
      return;
    }
    case 'test':
      test();
      return;
    default:
      say('log', `unknown ACTION ${env.ACTION}`);
      quit(2);
  }
}

main();
