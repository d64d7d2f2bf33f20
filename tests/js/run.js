// run.js: replays scenarios of the mongodb chart's agent through the shipped mongo.js and decide.js,
// unchanged, against replset.js (a stand-in for the mongod processes), in the runtime that loads
// this file:
//   mongosh --nodb --quiet --norc run.js   the real mongosh: mongo.js is load()ed as mongosh runs
//                                          it in the pods (its async rewriting, its globals), the
//                                          BSON values are those of mongosh's own driver (bson 7)
//   node run.js                            Node with npm bson (BSON_MODULE, default tests/js's bson 6)
// What agent.sh does with mongo.js' answers (the durable record, the empty-volume marker, the
// stale count, a resync: the marker file, `js shutdown`, the data directory wiped by mongod.sh on
// the restart) is played here as agent.sh does it; agent.sh itself is tested by the chart tests.
// Env: SCENARIOS (a JSON file: a list of scenarios), OUT (the JSON file written), JS_DIR (the
// preset's files/), TESTS_JS (this directory), [BSON_MODULE]
'use strict';
/* global load */
const fs = require('fs');
const path = require('path');

const MONGOSH = typeof load === 'function';
const TESTS_JS = process.env.TESTS_JS;
const JS_DIR = process.env.JS_DIR;
const { createCluster } = require(path.join(TESTS_JS, 'replset.js'));

function bsonModule() {
  if (process.env.BSON_MODULE) return require(process.env.BSON_MODULE);
  if (!MONGOSH) return require(path.join(TESTS_JS, 'node_modules', 'bson'));
  // the copy mongosh's driver (de)serializes with
  const driver = path.dirname(require.resolve('mongodb', { paths: [TESTS_JS] }));
  return require(require.resolve('bson', { paths: [driver] }));
}
const B = bsonModule();

class Quit extends Error {
  constructor(code) {
    super(`quit(${code})`);
    this.code = code;
  }
}

const ENV_KEYS = ['ACTION', 'PORT', 'REPLICA_SET', 'POD_NAME', 'PEERS', 'JS_DIR', 'ROOT_USER', 'MONGODB_ROOT_PASSWORD',
  'APP_USER', 'APP_DATABASE', 'MONGODB_PASSWORD', 'MARKER', 'RECORD_KNOWN', 'RECORD_ID', 'REPLICAS', 'TOPO_PEERS',
  'STEP_BUDGET_SECONDS', 'STEPDOWN_CATCHUP_SECONDS', 'STALE_ROUNDS'];

function scenario(spec) {
  const C = createCluster(B, { sts: 'db', port: 27017 });
  const S = { replicas: 0, record: '', logs: [], notes: [], outputs: [], rounds: 0, tests: [], actions: [], probes: [] };
  const peers = (n) => Array.from({ length: n }, (_, i) => C.fqdn(i));
  let out = [];

  // the globals mongo.js uses, as mongosh provides them
  globalThis.Mongo = C.Mongo;
  globalThis.print = (...args) => { out.push(args.join(' ')); };
  globalThis.sleep = (ms) => { C.clock += Number(ms); };
  globalThis.quit = (code) => { throw new Quit(code); };

  function js(pod, action, extra) {
    const env = {
      ACTION: action, PORT: '27017', REPLICA_SET: C.setName, POD_NAME: pod ? pod.name : 'db-test',
      PEERS: (pod ? pod.peers : peers(S.replicas)).join(' '), JS_DIR, ROOT_USER: C.rootUser,
      MONGODB_ROOT_PASSWORD: C.rootPassword, STEPDOWN_CATCHUP_SECONDS: String(spec.catchUpSeconds || 10), ...extra,
    };
    if (spec.appUser) Object.assign(env, { APP_USER: 'shop', APP_DATABASE: 'orders', MONGODB_PASSWORD: 'app-secret' });
    for (const k of ENV_KEYS) {
      if (env[k] === undefined) delete process.env[k];
      else process.env[k] = env[k];
    }
    C.self = pod ? pod.name : null;
    out = [];
    let code = 0;
    try {
      if (MONGOSH) load(path.join(JS_DIR, 'mongo.js'));
      else {
        const file = path.join(JS_DIR, 'mongo.js');
        // eslint-disable-next-line global-require
        require('vm').runInThisContext(`(function (require) {${fs.readFileSync(file, 'utf8')}\n})`, { filename: file })(require);
      }
    } catch (e) {
      if (e instanceof Quit) code = e.code;
      else {
        C.fail(`${C.self}: ${action}: uncaught ${e && e.stack ? e.stack : e}`);
        code = 1;
      }
    }
    S.outputs.push({ pod: C.self, action, lines: out.slice(), code });
    return { lines: out.slice(), code };
  }

  function agentRound() {
    S.rounds += 1;
    for (const p of Object.values(C.pods).sort((a, b) => a.ordinal - b.ordinal)) {
      if (!p.up || p.frozen) continue;
      const { lines } = js(p, 'agent', {
        MARKER: p.marker ? '1' : '0', RECORD_KNOWN: '1', RECORD_ID: S.record, REPLICAS: String(S.replicas),
        TOPO_PEERS: peers(S.replicas).join(' '), STEP_BUDGET_SECONDS: '20', STALE_ROUNDS: String(p.staleRounds || 0),
      });
      let member = false;
      let stale = 0;
      let resync = false;
      for (const line of lines) {
        const [kind, ...rest] = line.split(' ');
        const text = rest.join(' ');
        if (kind === 'role') p.role = text;
        else if (line === 'member yes') member = true;
        else if (kind === 'replset') {
          if (!S.record) S.record = text;
          else if (S.record !== text) C.fail(`${p.name}: replica set id ${text} is not the recorded ${S.record}`);
        } else if (kind === 'stale') stale = Number(text);
        else if (kind === 'resync') resync = text;
        else if (kind === 'log') S.logs.push(`${p.name}: ${text}`);
        else if (kind === 'note') S.notes.push(`${p.name}: ${text}`);
        else if (line.trim()) C.fail(`${p.name}: agent printed an unexpected line: ${line}`);
      }
      if (member) p.marker = false;
      p.staleRounds = stale;
      if (resync) { // agent.sh: the resync marker, then `js shutdown`; mongod.sh wipes on the restart
        S.logs.push(`${p.name}: resync: ${resync}`);
        js(p, 'shutdown', {});
        if (p.up) C.fail(`${p.name}: asked to resync, but mongod did not shut down`);
        p.data = { config: null };
        p.stale = false;
        p.staleRounds = 0;
        p.wiped = (p.wiped || 0) + 1;
        C.start(p.name, p.peers);
      }
    }
    tick();
  }

  function tick() {
    C.clock += 5000;
    for (const p of Object.values(C.pods)) {
      if (!p.up) continue;
      if (p.syncing > 0) p.syncing -= 1;
      else if (!p.data.config && C.inConfig(p) && C.primary) { p.data.config = true; p.syncing = 1; } // wiped: initial sync
      // a departing pod's preStop ends once the set removed it: the pod is deleted, its volume kept
      if (p.ordinal >= S.replicas && !C.inConfig(p) && p.data.config) p.up = false;
    }
    if (C.config && (!C.primary || !C.pods[C.primary].up || C.pods[C.primary].frozen)) C.elect();
  }

  function converged() {
    if (!C.config) return false;
    const want = peers(S.replicas).map((h) => `${h}:27017`).sort();
    const have = C.config.members.map((m) => m.host).sort();
    if (JSON.stringify(want) !== JSON.stringify(have)) return false;
    const states = want.map((h) => C.stateOf(Object.values(C.pods).find((p) => `${p.fqdn}:27017` === h)));
    if (states.filter((s) => s === 'PRIMARY').length !== 1 || !states.every((s) => s === 'PRIMARY' || s === 'SECONDARY')) return false;
    const voting = C.config.members.filter((m) => m.votes > 0);
    return voting.length === Math.min(7, S.replicas % 2 ? S.replicas : S.replicas - 1) &&
      voting.every((m) => m.priority.valueOf() > 0);
  }

  function scale(n, stale) {
    S.replicas = n;
    for (let i = 0; i < n; i++) {
      const p = C.addPod(i);
      if (!p.up) {
        if (p.data.config && stale) p.stale = true; // its volume's last write fell off the primary's oplog
        if (!p.data.config) p.marker = true; // prepare.sh: an empty volume
        C.start(p.name, peers(n));
      }
    }
  }

  const primaryPod = () => C.pods[C.primary];
  const podNamed = (name) => (name === 'primary' ? primaryPod() : C.pods[name]);
  const result = { name: spec.name, runtime: MONGOSH ? 'mongosh' : 'node', steps: [] };
  for (const step of spec.steps) {
    const before = S.rounds;
    if (step.do === 'install' || step.do === 'scale') scale(step.replicas, step.stale);
    if (step.do === 'kill') { const p = podNamed(step.pod); p.up = false; step.pod = p.name; tick(); }
    if (step.do === 'restart') { const p = C.pods[step.pod]; C.start(p.name, p.peers); }
    if (step.do === 'freeze') { const p = podNamed(step.pod); p.frozen = true; step.pod = p.name; tick(); }
    if (step.do === 'thaw') { C.pods[step.pod].frozen = false; }
    if (step.do === 'stepdown') {
      const p = primaryPod();
      const r = js(p, 'stepdown', {});
      S.actions.push({ action: 'stepdown', pod: p.name, lines: r.lines, newPrimary: C.primary });
    }
    if (step.do === 'probes') { // the probes (probe.sh) and a departing pod's preStop question (prestop.sh)
      for (const p of Object.values(C.pods).filter((x) => x.up)) {
        const state = C.stateOf(p);
        const live = js(p, 'live', {});
        const ready = js(p, 'ready', {});
        const member = js(p, 'member', {});
        S.probes.push({ pod: p.name, state, live: live.code, ready: ready.code, readyLines: ready.lines, member: member.lines });
      }
    }
    if (step.do === 'test') {
      const r = js(null, 'test', { REPLICAS: String(S.replicas) });
      S.tests.push({ code: r.code, lines: r.lines });
    }
    let ok = true;
    if (step.until) {
      ok = false;
      for (let i = 0; i < (step.max || 40) && !ok; i++) {
        agentRound();
        ok = converged();
      }
      if (ok) agentRound(); // and one more: nothing left to do
      ok = ok && converged();
    } else if (step.rounds) {
      for (let i = 0; i < step.rounds; i++) agentRound();
    }
    result.steps.push({ do: step.do, converged: ok, rounds: S.rounds - before, primary: C.primary });
  }
  const member = (m) => ({ host: m.host, _id: m._id, votes: m.votes, priority: m.priority.valueOf() });
  Object.assign(result, {
    problems: C.problems, logs: S.logs, notes: S.notes, tests: S.tests, actions: S.actions, probes: S.probes,
    record: S.record,
    commands: C.commands.map((c) => ({ self: c.self, pod: c.pod, name: c.name, problems: c.problems, wait: c.wait,
      socketTimeoutMS: c.socketTimeoutMS, ejson: c.ejson })),
    connections: C.connections.length,
    members: C.config ? C.config.members.map(member) : [],
    states: Object.fromEntries(Object.values(C.pods).map((p) => [p.name, C.stateOf(p)])),
    wiped: Object.fromEntries(Object.values(C.pods).map((p) => [p.name, p.wiped || 0])),
    primary: C.primary,
    bson: B.EJSON ? 'ok' : 'missing',
  });
  return result;
}

const results = [];
for (const spec of JSON.parse(fs.readFileSync(process.env.SCENARIOS, 'utf8'))) results.push(scenario(spec));
fs.writeFileSync(process.env.OUT, JSON.stringify(results));
