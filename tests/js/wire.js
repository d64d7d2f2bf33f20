// wire.js: what a document becomes on the wire between mongosh and mongod, with the real bson
// package, and the BSON types mongod's IDL accepts for every field of every command the chart's
// JavaScript sends. Used by replset.js (the stand-in for the mongod processes) in both runtimes:
// the real mongosh (the bson copy its driver serializes commands with) and Node with npm bson 6.
//
// Field types are those of the server's IDL files and command parsers (mongodb/mongo, MongoDB 8.0):
//   src/mongo/idl/basic_types.idl          safeInt64/safeInt/safeDouble: long|int|decimal|double;
//                                          safeBool: bool|long|int|decimal|double; objectid; string
//   src/mongo/db/repl/repl_set_config.idl  ReplSetConfigBase (strict): _id string, version and term
//                                          smallExactInt64, members array<memberConfig>, protocolVersion
//                                          safeInt64 (1), writeConcernMajorityJournalDefault safeBool,
//                                          settings ReplSetConfigSettings (replicaSetId objectid)
//   src/mongo/db/repl/member_config.idl    MemberConfigBase (strict): _id memberId, host string, votes
//                                          safeInt64 0..1, priority safeDouble 0..1000,
//                                          secondaryDelaySecs safeInt64, hidden/arbiterOnly/
//                                          buildIndexes safeBool, tags object
//   src/mongo/db/write_concern_options.idl WriteConcernIdl (strict): w writeConcernW (number|string|
//                                          object), j/fsync safeBool, wtimeout number (any other type
//                                          is read as 0: no timeout at all)
//   src/mongo/db/repl/repl_set_commands.cpp replSetInitiate: a config without version gets 1;
//                                          replSetStepDown: the first field numberLong() (a
//                                          non-number reads as 0, i.e. 60 s), secondaryCatchUpPeriodSecs
//                                          bsonExtractIntegerField (int|long|integral double), force
//   src/mongo/db/auth/user_management_commands.idl  createUser: string, pwd string, roles
//                                          array<RoleNameOrString>, digestPassword bool, mechanisms
//   src/mongo/db/commands/rwc_defaults_commands.idl setDefaultRWConcern: defaultWriteConcern WriteConcern
//   src/mongo/idl/generic_argument.idl     maxTimeMS safeInt64, writeConcern WriteConcern
'use strict';

// The BSON type of a value deserialized with promoteValues: false (what arrived on the wire)
function bsonType(v) {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'double'; // promoted (not expected here)
  if (v instanceof Date) return 'date';
  if (Array.isArray(v)) return 'array';
  switch (v._bsontype) {
    case 'Int32': return 'int';
    case 'Double': return 'double';
    case 'Long': return 'long';
    case 'Decimal128': return 'decimal';
    case 'ObjectId': case 'ObjectID': return 'objectId';
    case 'Timestamp': return 'timestamp';
    case 'Binary': return 'binData';
    case undefined: return 'object';
    default: return v._bsontype;
  }
}

function numeric(v) {
  const t = bsonType(v);
  if (t === 'int' || t === 'double') return Number(v.valueOf());
  if (t === 'long') return v.toNumber();
  return NaN;
}

const NUMBER = ['long', 'int', 'decimal', 'double'];
const T = {
  string: { types: ['string'] },
  bool: { types: ['bool'] },
  object: { types: ['object'] },
  objectid: { types: ['objectId'] },
  any: { types: null },
  safeInt64: { types: NUMBER },
  safeInt: { types: NUMBER },
  safeDouble: { types: NUMBER },
  safeBool: { types: ['bool', ...NUMBER] },
  // repl_set_config.idl: any number in int64 range; decimals and non-integral doubles refused
  smallExactInt64: { types: ['long', 'int', 'double'], integral: true },
  // member_id.h MemberId::parseFromBSON: a number, 0..255 (repl_set_config: member _id)
  memberId: { types: ['long', 'int', 'double'], integral: true, min: 0, max: 255 },
  // bsonExtractIntegerField: int, long, or a double holding an integer
  integer: { types: ['long', 'int', 'double'], integral: true },
  // replSetStepDown's first field: numberLong() of any number
  number: { types: NUMBER },
  writeConcernW: { types: ['int', 'long', 'double', 'string', 'object'] },
  wtimeout: { types: NUMBER },
};

const WRITE_CONCERN = {
  strict: true,
  fields: { w: T.writeConcernW, j: T.safeBool, wtimeout: T.wtimeout, fsync: T.safeBool, provenance: T.string },
};
const MEMBER = {
  strict: true,
  required: ['_id', 'host'],
  fields: {
    _id: T.memberId, host: T.string, votes: { ...T.safeInt64, min: 0, max: 1 }, newlyAdded: T.bool,
    priority: { ...T.safeDouble, min: 0, max: 1000 }, hidden: T.safeBool,
    secondaryDelaySecs: { ...T.safeInt64, min: 0, max: 31622400 }, arbiterOnly: T.safeBool,
    buildIndexes: T.safeBool, tags: T.object, horizons: T.object,
  },
};
const SETTINGS = {
  strict: false,
  fields: {
    chainingAllowed: T.safeBool, heartbeatIntervalMillis: T.smallExactInt64, heartbeatTimeoutSecs: T.smallExactInt64,
    electionTimeoutMillis: T.smallExactInt64, catchUpTimeoutMillis: T.smallExactInt64,
    catchUpTakeoverDelayMillis: T.smallExactInt64, getLastErrorModes: T.object,
    getLastErrorDefaults: { struct: WRITE_CONCERN }, replicaSetId: T.objectid,
  },
};
const CONFIG = {
  strict: true,
  required: ['_id', 'version', 'members'],
  fields: {
    _id: T.string, version: { ...T.smallExactInt64, min: 1, max: 2147483647 },
    term: { ...T.smallExactInt64, min: -1, max: 2147483647 }, members: { array: { struct: MEMBER } },
    configsvr: T.safeBool, protocolVersion: { ...T.safeInt64, min: 1, max: 1 },
    writeConcernMajorityJournalDefault: T.safeBool, settings: { struct: SETTINGS }, repaired: T.bool,
  },
};
// repl_set_commands.cpp CmdReplSetInitiate: "Missing version field defaults to version 1"
const INITIATE_CONFIG = { ...CONFIG, required: ['_id', 'members'] };
const GENERIC = { maxTimeMS: T.safeInt64, writeConcern: { struct: WRITE_CONCERN }, comment: T.any };
const ROLE = { oneOf: [T.string, { struct: { strict: true, required: ['role', 'db'], fields: { role: T.string, db: T.string } } }] };

// command name -> the fields it takes (besides the generic arguments)
const COMMANDS = {
  hello: { hello: T.any },
  ping: { ping: T.any },
  replSetGetStatus: { replSetGetStatus: T.any },
  replSetGetConfig: { replSetGetConfig: T.any, commitmentStatus: T.safeBool, includeNewlyAdded: T.safeBool },
  replSetInitiate: { replSetInitiate: { struct: INITIATE_CONFIG } },
  replSetReconfig: { replSetReconfig: { struct: CONFIG }, force: T.safeBool },
  replSetStepDown: { replSetStepDown: { ...T.number, min: 0 }, secondaryCatchUpPeriodSecs: { ...T.integer, min: 0 },
    force: T.safeBool },
  createUser: { createUser: T.string, pwd: T.string, roles: { array: ROLE }, customData: T.object,
    digestPassword: T.bool, mechanisms: { array: T.string } },
  usersInfo: { usersInfo: { oneOf: [T.string, T.safeInt, T.object, { array: T.any }] }, showCredentials: T.bool },
  getDefaultRWConcern: { getDefaultRWConcern: T.any, inMemory: T.bool },
  setDefaultRWConcern: { setDefaultRWConcern: T.any, defaultReadConcern: T.object,
    defaultWriteConcern: { struct: WRITE_CONCERN } },
  shutdown: { shutdown: T.any, force: T.bool, timeoutSecs: T.safeInt64 },
};

// Problems of VALUE (deserialized with promoteValues: false) against SPEC, at PATH
function check(value, spec, path, out) {
  if (spec.oneOf) {
    const tries = spec.oneOf.map((s) => check(value, s, path, []));
    if (!tries.some((t) => !t.length)) out.push(`${path}: ${bsonType(value)} matches none of the accepted forms`);
    return out;
  }
  if (spec.array) {
    if (bsonType(value) !== 'array') { out.push(`${path}: ${bsonType(value)}, not an array`); return out; }
    value.forEach((v, i) => check(v, spec.array, `${path}.${i}`, out));
    return out;
  }
  if (spec.struct) {
    if (bsonType(value) !== 'object') { out.push(`${path}: ${bsonType(value)}, not a document`); return out; }
    const s = spec.struct;
    for (const key of s.required || []) if (!(key in value)) out.push(`${path}.${key}: missing`);
    for (const key of Object.keys(value)) {
      if (s.fields[key]) check(value[key], s.fields[key], `${path}.${key}`, out);
      else if (s.strict) out.push(`${path}.${key}: not a field of this document (strict)`);
    }
    return out;
  }
  if (!spec.types) return out;
  const t = bsonType(value);
  if (!spec.types.includes(t)) {
    out.push(`${path}: BSON ${t}${t === 'string' ? ` "${value}"` : ''} where the server takes ${spec.types.join('|')}`);
    return out;
  }
  if (NUMBER.includes(t)) {
    const n = numeric(value);
    if (spec.integral && !Number.isInteger(n)) out.push(`${path}: ${n} is not an integer`);
    if (spec.min !== undefined && n < spec.min) out.push(`${path}: ${n} < ${spec.min}`);
    if (spec.max !== undefined && n > spec.max) out.push(`${path}: ${n} > ${spec.max}`);
  }
  return out;
}

// Problems of a command document as mongod would parse it: COMMAND deserialized from the wire
function checkCommand(command) {
  const name = Object.keys(command)[0];
  const fields = COMMANDS[name];
  if (!fields) return [`${name}: a command the tests do not know (add its IDL types to tests/js/wire.js)`];
  return check(command, { struct: { strict: true, fields: { ...GENERIC, ...fields } } }, name, []);
}

// Semantic checks mongod applies to a new configuration (repl_set_config.cpp, member_config.cpp,
// replication_coordinator_impl.cpp: a non-force reconfig adds or removes at most one voting member)
function checkReconfig(oldConfig, next) {
  const out = [];
  const n = (v) => (v === undefined ? undefined : numeric(v));
  if (oldConfig) {
    if (n(next.version) <= n(oldConfig.version)) out.push(`version ${n(next.version)} is not above ${n(oldConfig.version)}`);
    const oldId = oldConfig.settings && oldConfig.settings.replicaSetId;
    const newId = next.settings && next.settings.replicaSetId;
    if (oldId && (!newId || bsonType(newId) !== 'objectId' || newId.toHexString() !== oldId.toHexString())) {
      out.push('settings.replicaSetId differs from the current one');
    }
    const voting = (c) => new Set(c.members.filter((m) => (m.votes === undefined ? 1 : n(m.votes)) > 0).map((m) => m.host));
    const a = voting(oldConfig);
    const b = voting(next);
    const diff = [...a].filter((h) => !b.has(h)).length + [...b].filter((h) => !a.has(h)).length;
    if (diff > 1) out.push(`a non-force reconfig changes ${diff} voting members (at most 1)`);
  }
  const ids = new Set();
  const hosts = new Set();
  for (const m of next.members || []) {
    if (ids.has(n(m._id))) out.push(`member _id ${n(m._id)} twice`);
    if (hosts.has(m.host)) out.push(`member host ${m.host} twice`);
    ids.add(n(m._id));
    hosts.add(m.host);
    const votes = m.votes === undefined ? 1 : n(m.votes);
    const priority = m.priority === undefined ? 1 : n(m.priority);
    if (votes === 0 && priority !== 0) out.push(`${m.host}: priority must be 0 when non-voting (votes:0)`);
  }
  const voters = (next.members || []).filter((m) => (m.votes === undefined ? 1 : n(m.votes)) > 0).length;
  if (voters > 7) out.push(`${voters} voting members (at most 7)`);
  return out;
}

module.exports = { bsonType, numeric, check, checkCommand, checkReconfig, COMMANDS, WRITE_CONCERN };
