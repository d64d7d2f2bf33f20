// replset.js: a stand-in for the mongod processes of one replica set, for running the chart's
// mongo.js (and the decide.js it requires) unchanged where no mongod exists. It replaces what
// mongo.js reaches through mongosh's `Mongo` class: every command document mongo.js sends is
// serialized with the real bson package and read back as mongod receives it (promoteValues:
// false), then checked against the server's IDL field types (wire.js); every reply is built in
// the shape and with the BSON types MongoDB 8.0 returns (ObjectId, Long, Int32, Double,
// Timestamp, Date: the manual's examples of hello, replSetGetStatus and replSetGetConfig, and
// repl_set_config.idl / member_config.idl / hello.idl) and handed over as mongosh's driver hands
// it over (deserialized with promoteLongs: false, mongosh's setting).
//
// The replica set follows MongoDB's rules as far as the chart depends on them: replSetInitiate
// once, a reconfig only on the primary, only once the previous configuration is committed, with
// a higher version, the same replicaSetId, at most one voting member added or removed, priority 0
// for a non-voter; new members spend a round in STARTUP2; a member whose data fell off the
// primary's oplog stays RECOVERING with tooStale until its data directory is wiped; elections
// need a majority of the voters; step-down hands over to a caught-up electable secondary and
// closes the connections; authentication with the localhost exception for the first user.
'use strict';
const wire = require('./wire.js');

const HELLO_FIXED = { maxBsonObjectSize: 16777216, maxMessageSizeBytes: 48000000, maxWriteBatchSize: 100000,
  logicalSessionTimeoutMinutes: 30, minWireVersion: 0, maxWireVersion: 25 }; // 25: MongoDB 8.0

class ServerError extends Error {
  constructor(code, codeName, message) {
    super(message);
    this.name = 'MongoServerError';
    this.code = code;
    this.codeName = codeName;
  }
}
class NetworkError extends Error {
  constructor(message) {
    super(message);
    this.name = 'MongoNetworkError';
  }
}

// B: the bson module (its classes and serializer). opts: {sts, domain, port, setName, rootUser, rootPassword}
function createCluster(B, opts) {
  const port = opts.port || 27017;
  const sts = opts.sts || 'db';
  const domain = opts.domain || `${sts}-headless.ns.svc.cluster.local`;
  const fqdn = (i) => `${sts}-${i}.${domain}`;
  const C = {
    B, port, sts, fqdn, setName: opts.setName || 'rs0', rootUser: opts.rootUser || 'root',
    rootPassword: opts.rootPassword || 'secret',
    pods: {}, config: null, committedAt: 0, term: 0, primary: null, users: {}, rwDefault: null,
    collections: {}, clock: 1760000000000, self: null, commands: [], problems: [], connections: [],
    processId: {}, electionIds: 0,
  };
  const wireDoc = (doc) => B.deserialize(B.serialize(doc), { promoteValues: false });
  // what mongosh's driver hands over (mongosh: promoteLongs false)
  const asReceived = (doc) => B.deserialize(B.serialize(doc), { promoteLongs: false });
  const long = (n) => B.Long.fromNumber(n);
  const dbl = (n) => new B.Double(n);
  const ts = () => new B.Timestamp({ t: Math.floor(C.clock / 1000), i: 1 });
  const optime = () => ({ ts: ts(), t: long(C.term) });
  const hostOf = (name) => `${C.pods[name].fqdn}:${port}`;
  const podOfHost = (host) => Object.values(C.pods).find((p) => `${p.fqdn}:${port}` === host);
  C.fail = (text) => C.problems.push(text);

  C.addPod = (i) => {
    const name = `${sts}-${i}`;
    if (!C.pods[name]) {
      C.pods[name] = { name, ordinal: i, fqdn: fqdn(i), up: false, data: { config: null, users: false }, syncing: 0,
        stale: false };
    }
    return C.pods[name];
  };
  C.start = (name, peers) => {
    const p = C.pods[name];
    p.up = true;
    p.peers = peers;
    p.uptime = C.clock;
    C.processId[name] = new B.ObjectId();
  };
  C.inConfig = (p) => Boolean(C.config && C.config.members.some((m) => m.host === hostOf(p.name)));
  C.member = (p) => C.config && C.config.members.find((m) => m.host === hostOf(p.name));
  // a pod's replica set state, as the primary sees it (or as it sees itself)
  C.stateOf = (p) => {
    if (!p.up) return 'DOWN';
    if (!p.data.config) return 'STARTUP';
    if (!C.inConfig(p)) return 'REMOVED';
    if (p.name === C.primary) return 'PRIMARY';
    if (p.syncing > 0) return 'STARTUP2';
    if (p.stale) return 'RECOVERING';
    return 'SECONDARY';
  };
  const STATE_NUM = { STARTUP: 0, PRIMARY: 1, SECONDARY: 2, RECOVERING: 3, STARTUP2: 5, DOWN: 8, REMOVED: 10 };

  // ---- replies in MongoDB 8.0's shapes ----
  const clusterTime = () => ({ clusterTime: ts(), signature: { hash: new B.Binary(Buffer.alloc(20), 0), keyId: long(0) } });
  function normalizeMember(m) { // MemberConfig::toBSON
    const n = (v, d) => (v === undefined ? d : wire.numeric(v));
    const out = {
      _id: n(m._id), host: String(m.host), arbiterOnly: Boolean(m.arbiterOnly && wire.numeric(m.arbiterOnly) !== 0),
      buildIndexes: true, hidden: false, priority: dbl(n(m.priority, 1)), tags: {},
      secondaryDelaySecs: long(n(m.secondaryDelaySecs, 0)), votes: n(m.votes, 1),
    };
    if (typeof m.arbiterOnly === 'boolean') out.arbiterOnly = m.arbiterOnly;
    return out;
  }
  function normalizeConfig(c, replicaSetId) { // ReplSetConfig::toBSON
    return {
      _id: String(c._id), version: wire.numeric(c.version), term: C.term,
      members: c.members.map(normalizeMember), protocolVersion: long(1), writeConcernMajorityJournalDefault: true,
      settings: {
        chainingAllowed: true, heartbeatIntervalMillis: 2000, heartbeatTimeoutSecs: 10, electionTimeoutMillis: 10000,
        catchUpTimeoutMillis: -1, catchUpTakeoverDelayMillis: 30000, getLastErrorModes: {},
        getLastErrorDefaults: { w: 1, wtimeout: 0 }, replicaSetId,
      },
    };
  }
  function helloOf(p) {
    const base = { topologyVersion: { processId: C.processId[p.name], counter: long(6) }, ...HELLO_FIXED,
      localTime: new Date(C.clock), connectionId: 1 + C.commands.length, readOnly: false };
    const state = C.stateOf(p);
    if (state === 'STARTUP' || state === 'REMOVED') {
      return { isWritablePrimary: false, secondary: false, info: 'Does not have a valid replica set config',
        isreplicaset: true, ...base, ok: dbl(1) };
    }
    const primary = C.primary && C.pods[C.primary];
    const out = {
      topologyVersion: base.topologyVersion,
      hosts: C.config.members.filter((m) => wire.numeric(m.priority) > 0).map((m) => m.host),
      passives: C.config.members.filter((m) => wire.numeric(m.priority) === 0).map((m) => m.host),
      setName: C.setName, setVersion: C.config.version, isWritablePrimary: state === 'PRIMARY',
      secondary: state === 'SECONDARY', me: hostOf(p.name),
      lastWrite: { opTime: optime(), lastWriteDate: new Date(C.clock), majorityOpTime: optime(),
        majorityWriteDate: new Date(C.clock) },
    };
    if (!out.passives.length) delete out.passives;
    if (primary && primary.up) out.primary = hostOf(primary.name);
    if (state === 'PRIMARY') out.electionId = B.ObjectId.createFromHexString(`7fffffff${String(C.term).padStart(16, '0')}`);
    return { ...out, ...base, topologyVersion: base.topologyVersion, ok: dbl(1), $clusterTime: clusterTime(),
      operationTime: ts() };
  }
  function statusOf(p) {
    const self = C.stateOf(p);
    const members = C.config.members.map((m) => {
      const q = podOfHost(m.host);
      const state = q ? C.stateOf(q) : 'DOWN';
      const entry = {
        _id: m._id, name: m.host, health: dbl(state === 'DOWN' ? 0 : 1), state: STATE_NUM[state] ?? 6,
        stateStr: state === 'DOWN' ? '(not reachable/healthy)' : state,
        uptime: q && q.up ? Math.floor((C.clock - q.uptime) / 1000) : 0, optime: optime(), optimeDate: new Date(C.clock),
        lastAppliedWallTime: new Date(C.clock), lastDurableWallTime: new Date(C.clock), syncSourceHost: '',
        syncSourceId: -1, infoMessage: '', configVersion: C.config.version, configTerm: C.term,
      };
      if (q === p) entry.self = true;
      else entry.lastHeartbeat = new Date(C.clock);
      if (state === 'PRIMARY') {
        entry.electionTime = ts();
        entry.electionDate = new Date(C.clock);
      }
      return entry;
    });
    const voting = C.config.members.filter((m) => m.votes > 0).length;
    const out = { set: C.setName, date: new Date(C.clock), myState: STATE_NUM[self], term: long(C.term) };
    if (p.stale && self === 'RECOVERING') out.tooStale = true; // topology_coordinator.cpp prepareStatusResponse
    return {
      ...out, syncSourceHost: '', syncSourceId: -1, heartbeatIntervalMillis: long(2000),
      majorityVoteCount: Math.floor(voting / 2) + 1, writeMajorityCount: Math.floor(voting / 2) + 1,
      votingMembersCount: voting, writableVotingMembersCount: voting,
      optimes: { lastCommittedOpTime: optime(), lastCommittedWallTime: new Date(C.clock),
        readConcernMajorityOpTime: optime(), appliedOpTime: optime(), durableOpTime: optime(),
        lastAppliedWallTime: new Date(C.clock), lastDurableWallTime: new Date(C.clock) },
      lastStableRecoveryTimestamp: ts(), members, ok: dbl(1), $clusterTime: clusterTime(), operationTime: ts(),
    };
  }

  // ---- elections ----
  C.elect = (exclude) => {
    const voters = C.config.members.filter((m) => m.votes > 0);
    const up = voters.filter((m) => { const q = podOfHost(m.host); return q && q.up && !q.frozen; });
    if (up.length * 2 <= voters.length) { C.primary = null; return null; }
    const electable = C.config.members
      .map((m) => ({ m, q: podOfHost(m.host) }))
      .filter(({ m, q }) => q && q.name !== exclude && C.stateOf(q) === 'SECONDARY' && !q.frozen && m.votes > 0 &&
        wire.numeric(m.priority) > 0)
      .sort((a, b) => a.q.ordinal - b.q.ordinal);
    if (!electable.length) { C.primary = null; return null; }
    C.primary = electable[0].q.name;
    C.term += 1;
    C.config.term = C.term;
    return C.primary;
  };

  // ---- commands ----
  function needAuth(conn, name) {
    if (['hello', 'ping', 'isMaster', 'ismaster'].includes(name)) return;
    if (conn.authed) return;
    const noUsers = !Object.keys(C.users).length;
    if (noUsers && conn.local && ['createUser', 'replSetInitiate', 'replSetGetStatus', 'usersInfo'].includes(name)) return;
    throw new ServerError(13, 'Unauthorized', `Command ${name} requires authentication`);
  }
  function serverWaitMs(cmd) { // how long mongod may legitimately take to answer CMD
    let ms = 0;
    if (cmd.maxTimeMS !== undefined) ms = Math.max(ms, wire.numeric(cmd.maxTimeMS));
    if (cmd.writeConcern && cmd.writeConcern.wtimeout !== undefined) ms = Math.max(ms, wire.numeric(cmd.writeConcern.wtimeout));
    if (cmd.replSetStepDown !== undefined) {
      const catchUp = cmd.secondaryCatchUpPeriodSecs === undefined ? 10 : wire.numeric(cmd.secondaryCatchUpPeriodSecs);
      ms = Math.max(ms, 1000 * catchUp);
    }
    return ms;
  }
  function record(conn, cmd, extraProblems) {
    const w = wireDoc(cmd);
    const name = Object.keys(w)[0];
    const problems = wire.checkCommand(w).concat(extraProblems || []);
    const wait = serverWaitMs(w);
    const socket = conn.options.socketTimeoutMS;
    if (wait > 0 && !(socket === 0 || socket >= wait + 2000)) {
      problems.push(`socketTimeoutMS ${socket} of this connection: the client gives up before mongod answers ` +
        `(it may take ${wait} ms)`);
    }
    C.commands.push({ pod: conn.pod ? conn.pod.name : conn.host, self: C.self, name, problems, wait, socketTimeoutMS: socket,
      ejson: B.EJSON.stringify(w, { relaxed: false }) });
    for (const problem of problems) C.fail(`${C.self}: ${name} to ${conn.host}: ${problem}`);
    return { w, name, problems };
  }
  function run(conn, dbName, cmd) {
    const p = conn.pod;
    const { w, name, problems } = record(conn, cmd);
    if (!p || !p.up) throw new NetworkError(`Server selection timed out after ${conn.options.serverSelectionTimeoutMS} ms`);
    if (p.frozen) throw new NetworkError(`connection to ${conn.host} timed out`);
    if (problems.some((x) => !x.startsWith('socketTimeoutMS'))) {
      throw new ServerError(14, 'TypeMismatch', `BSON field '${problems[0].split(':')[0]}' is the wrong type: ${problems[0]}`);
    }
    needAuth(conn, name);
    const state = C.stateOf(p);
    const member = state !== 'STARTUP' && state !== 'REMOVED';
    switch (name) {
      case 'hello': case 'isMaster': case 'ismaster': return helloOf(p);
      case 'ping': return { ok: dbl(1) };
      case 'replSetGetStatus':
        if (!member) throw new ServerError(94, 'NotYetInitialized', 'no replset config has been received');
        return statusOf(p);
      case 'replSetGetConfig': {
        if (!member) throw new ServerError(94, 'NotYetInitialized', 'no replset config has been received');
        const out = { config: C.config };
        if (w.commitmentStatus !== undefined) {
          if (state !== 'PRIMARY') throw new ServerError(10107, 'NotWritablePrimary', 'commitmentStatus requires a primary');
          out.commitmentStatus = C.clock >= C.committedAt;
        }
        return { ...out, ok: dbl(1), $clusterTime: clusterTime(), operationTime: ts() };
      }
      case 'replSetInitiate': {
        if (p.data.config) throw new ServerError(23, 'AlreadyInitialized', 'already initialized');
        const c = w.replSetInitiate;
        const hosts = c.members.map((m) => m.host);
        if (!hosts.includes(hostOf(p.name))) {
          throw new ServerError(93, 'InvalidReplicaSetConfig', `No host described in new configuration for replica set ${c._id} maps to this node`);
        }
        if (c._id !== C.setName) throw new ServerError(93, 'InvalidReplicaSetConfig', `set name ${c._id} is not --replSet ${C.setName}`);
        const bad = wire.checkReconfig(null, c);
        if (bad.length) throw new ServerError(93, 'InvalidReplicaSetConfig', bad.join('; '));
        C.term = 1;
        C.config = normalizeConfig({ ...c, version: c.version || 1 }, new B.ObjectId());
        p.data.config = true;
        C.primary = p.name;
        C.committedAt = C.clock;
        return { ok: dbl(1) };
      }
      case 'replSetReconfig': {
        if (state !== 'PRIMARY') throw new ServerError(10107, 'NotWritablePrimary', 'replSetReconfig should only be run on a writable PRIMARY');
        if (C.clock < C.committedAt) {
          throw new ServerError(109, 'ConfigurationInProgress', 'Cannot run replSetReconfig because the node is currently updating its configuration');
        }
        const next = w.replSetReconfig;
        const bad = wire.checkReconfig(C.config, next);
        if (bad.length) throw new ServerError(103, 'NewReplicaSetConfigurationIncompatible', bad.join('; '));
        const before = new Set(C.config.members.map((m) => m.host));
        C.config = normalizeConfig(next, C.config.settings.replicaSetId);
        C.committedAt = C.clock + 1000;
        for (const m of C.config.members) {
          const q = podOfHost(m.host);
          if (!before.has(m.host) && q) {
            if (!q.data.config) { q.data.config = true; q.syncing = 1; } // initial sync
            // a retained volume: its data is there; stale stays stale
          }
        }
        return { ok: dbl(1), $clusterTime: clusterTime(), operationTime: ts() };
      }
      case 'replSetStepDown': {
        if (state !== 'PRIMARY') throw new ServerError(189, 'PrimarySteppedDown', 'not primary so can\'t step down');
        const old = C.primary;
        if (!C.elect(old)) {
          C.primary = old;
          throw new ServerError(262, 'ExceededTimeLimit', 'No electable secondaries caught up as of now');
        }
        throw new NetworkError(`connection 3 to ${conn.host} closed`); // hangUpOnStepDown
      }
      case 'createUser': {
        if (state !== 'PRIMARY') throw new ServerError(10107, 'NotWritablePrimary', 'not primary');
        if (C.users[`${dbName}.${w.createUser}`]) throw new ServerError(51003, 'Location51003', `User "${w.createUser}@${dbName}" already exists`);
        C.users[`${dbName}.${w.createUser}`] = { pwd: w.pwd, roles: w.roles };
        return { ok: dbl(1) };
      }
      case 'usersInfo': {
        const u = C.users[`${dbName}.${w.usersInfo}`];
        return { users: u ? [{ _id: `${dbName}.${w.usersInfo}`, user: w.usersInfo, db: dbName, roles: u.roles }] : [], ok: dbl(1) };
      }
      case 'getDefaultRWConcern':
        return C.rwDefault ? { defaultWriteConcern: C.rwDefault, updateOpTime: ts(), updateWallClockTime: new Date(C.clock),
          defaultWriteConcernSource: 'global', defaultReadConcernSource: 'implicit', defaultReadConcern: { level: 'local' },
          localUpdateWallClockTime: new Date(C.clock), ok: dbl(1) }
          : { defaultWriteConcern: { w: 'majority', wtimeout: 0 }, defaultWriteConcernSource: 'implicit',
            defaultReadConcern: { level: 'local' }, defaultReadConcernSource: 'implicit',
            localUpdateWallClockTime: new Date(C.clock), ok: dbl(1) };
      case 'setDefaultRWConcern':
        if (state !== 'PRIMARY') throw new ServerError(10107, 'NotWritablePrimary', 'not primary');
        C.rwDefault = { w: w.defaultWriteConcern.w, wtimeout: 0 };
        return { ...C.rwDefault, ok: dbl(1) };
      case 'shutdown':
        p.up = false;
        p.shutdownRequested = true;
        if (C.primary === p.name) C.elect(p.name);
        throw new NetworkError(`connection to ${conn.host} closed`);
      default:
        throw new ServerError(59, 'CommandNotFound', `no such command: '${name}'`);
    }
  }

  // mongosh's Mongo, for mongo.js: new Mongo(uri).getDB(name).runCommand / auth / getCollection
  class Mongo {
    constructor(uri) {
      const u = new URL(uri);
      this.host = u.host;
      this.options = {};
      for (const [k, v] of u.searchParams) this.options[k] = /^[0-9]+$/.test(v) ? Number(v) : v;
      this.local = this.host.startsWith('127.0.0.1:') || this.host.startsWith('localhost:');
      this.pod = this.local ? C.pods[C.self] : podOfHost(this.host);
      this.authed = false;
      C.connections.push({ self: C.self, host: this.host, options: this.options });
    }
    getDB(name) {
      const conn = this;
      return {
        runCommand(cmd) { return asReceived(run(conn, name, cmd)); },
        auth(user, pwd) {
          if (!conn.pod || !conn.pod.up) throw new NetworkError('Server selection timed out');
          const u = C.users[`${name}.${user}`];
          if (!u || u.pwd !== pwd || !conn.pod.data.config) throw new ServerError(18, 'AuthenticationFailed', 'Authentication failed.');
          conn.authed = true;
          return { ok: 1 };
        },
        getCollection(coll) {
          const key = `${name}.${coll}`;
          const docs = () => (C.collections[key] = C.collections[key] || {});
          const write = (op, doc, options) => {
            const wc = (options || {}).writeConcern;
            const cmd = { [op]: coll, documents: [doc] };
            if (wc) cmd.writeConcern = wc;
            const w = wireDoc({ writeConcern: wc || {} });
            const problems = wc ? wire.check(w.writeConcern, { struct: wire.WRITE_CONCERN }, `${op}.writeConcern`, []) : [];
            const wait = wc && wc.wtimeout !== undefined ? wire.numeric(w.writeConcern.wtimeout) : 0;
            const socket = conn.options.socketTimeoutMS;
            if (wait > 0 && !(socket >= wait + 2000)) {
              problems.push(`socketTimeoutMS ${socket} of this connection: the client gives up before mongod answers (it may take ${wait} ms)`);
            }
            C.commands.push({ pod: conn.pod.name, self: C.self, name: op, problems, wait, socketTimeoutMS: socket,
              ejson: B.EJSON.stringify(wireDoc(cmd), { relaxed: false }) });
            for (const problem of problems) C.fail(`${C.self}: ${op} to ${conn.host}: ${problem}`);
            if (C.stateOf(conn.pod) !== 'PRIMARY') throw new ServerError(10107, 'NotWritablePrimary', 'not primary');
          };
          return {
            insertOne(doc, options) { write('insert', doc, options); docs()[doc._id] = doc; return { acknowledged: true, insertedId: doc._id }; },
            deleteOne(filter, options) { write('delete', filter, options); delete docs()[filter._id]; return { acknowledged: true, deletedCount: 1 }; },
            findOne(filter) { const d = docs()[filter._id]; return d ? asReceived(d) : null; },
          };
        },
      };
    }
    close() {}
  }
  C.Mongo = Mongo;
  C.normalizeConfig = normalizeConfig;
  C.helloOf = helloOf;
  C.statusOf = statusOf;
  return C;
}

module.exports = { createCluster, ServerError, NetworkError };
