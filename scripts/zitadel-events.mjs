#!/usr/bin/env node
/**
 * A deterministic generator of ZITADEL-shaped events in `<schema>.events2`.
 *
 *   node scripts/zitadel-events.mjs --url postgres://... --events 320000 --instances 100 --seed 1
 *       [--schema eventstore] [--same-position-rate 0]
 *
 * creates the schema and events2 (ZITADEL's DDL, as plugins/zitadel/sql/init_03_events2.sql)
 * when missing, fills it, and prints a count per event type.
 *
 * As a module: `await generateEvents(client, { events, instances, seed, schema })` with a
 * connected `pg` client; it inserts about `events` rows and returns
 * `{ events, byType, instances, firstPosition, lastPosition }`.
 *
 * What the rows look like, after ZITADEL's push (cmd/setup/40 `eventstore.push`):
 * - One command (a push) is one transaction: its events share `created_at` and
 *   `position` = EXTRACT(EPOCH FROM created_at) (numeric, microseconds), `in_tx_order` is
 *   1..n over the whole push (across aggregates); positions increase from push to push.
 * - Per aggregate (instance_id, aggregate_type, aggregate_id) `sequence` is 1, 2, 3, ...;
 *   `owner` is the resource owner (the instance for the instance aggregate, the org for
 *   orgs, users and projects); `revision` is the aggregate version: user 2, others 1.
 * - Payloads carry ZITADEL's json tags (internal/repository/...): `userName`, `firstName`,
 *   `email`, `encodedHash`, `orgId`, `iamProjectId`, `domain`, ...; events whose Payload()
 *   is nil have a NULL payload.
 * - Per instance, a setup push like ZITADEL's instance setup (instance.added, the default
 *   org with its domain, the ZITADEL project and console app, an admin user, ...); then
 *   random commands on random instances: orgs (added, changed, primary domain, deactivated /
 *   reactivated, rarely removed), users (mostly user.human.added revision 2, some
 *   user.machine.added, a few legacy user.added / user.human.selfregistered, then email
 *   changed / verified, username changed, domain claimed, locked / unlocked, deactivated /
 *   reactivated, some removed) and, for about 30% of all events, events the instances /
 *   orgs1 / users14 projections do not read (project.*, user.token.added,
 *   user.human.password.check.succeeded, org.domain.added, ...).
 * - With `samePositionRate` > 0, that share of pushes reuses the previous push's position
 *   (two transactions started in the same microsecond: in_tx_order starts at 1 again).
 *
 * The same seed gives the same rows (a mulberry32 PRNG, a fixed start time of
 * 2024-01-01T00:00:00Z). The table should be empty, or at least hold none of the generated
 * aggregates: sequences start at 1.
 */
import process from 'node:process';
import { pathToFileURL } from 'node:url';

/** mulberry32: a small, fast, seeded PRNG; returns floats in [0, 1). */
function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Event types the instances, orgs1 and users14 projections reduce (plugins/zitadel/projections.ts). */
export const PROJECTED_TYPES = new Set([
  'instance.added',
  'instance.changed',
  'instance.removed',
  'instance.default.org.set',
  'instance.iam.project.set',
  'instance.iam.console.set',
  'instance.default.language.set',
  'org.added',
  'org.changed',
  'org.deactivated',
  'org.reactivated',
  'org.domain.primary.set',
  'org.removed',
  'user.human.added',
  'user.human.selfregistered',
  'user.added',
  'user.selfregistered',
  'user.machine.added',
  'user.locked',
  'user.unlocked',
  'user.deactivated',
  'user.reactivated',
  'user.username.changed',
  'user.domain.claimed',
  'user.human.email.changed',
  'user.human.email.verified',
  'user.removed',
]);

const REVISION = { user: 2, org: 1, instance: 1, project: 1 };

const FIRST_NAMES = ['Ada', 'Alan', 'Grace', 'Linus', 'Barbara', 'Edsger', 'Margaret', 'Donald', 'Frances', 'Ken', 'Radia', 'Dennis', 'Hedy', 'Tim', 'Katherine', 'John'];
const LAST_NAMES = ['Lovelace', 'Turing', 'Hopper', 'Torvalds', 'Liskov', 'Dijkstra', 'Hamilton', 'Knuth', 'Allen', 'Thompson', 'Perlman', 'Ritchie', 'Lamarr', 'Berners-Lee', 'Johnson', 'McCarthy'];
const WORDS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'wonka', 'tyrell', 'cyberdyne', 'soylent', 'vandelay', 'aperture', 'oscorp', 'massive', 'dynamic'];
const LANGUAGES = ['en', 'de', 'fr', 'it', 'ja', 'zh', 'pl', 'pt', 'es', 'und'];
const START_MICROS = 1704067200 * 1_000_000; // 2024-01-01T00:00:00Z

const pad = (n, w) => String(n).padStart(w, '0');

/** Microseconds since the epoch -> [position text, created_at ISO text with microseconds]. */
function timeOf(us) {
  const secs = Math.floor(us / 1_000_000);
  const frac = pad(us % 1_000_000, 6);
  const iso = new Date(secs * 1000).toISOString().slice(0, 19);
  return [`${secs}.${frac}`, `${iso}.${frac}Z`];
}

/**
 * `COPY ... FROM STDIN` through a pg client: a Submittable (the interface pg-query-stream
 * and pg-cursor use). `ready` resolves when the server accepts data; then send chunks with
 * `connection.sendCopyFromChunk` and end with `connection.endCopyFrom()`; `done` settles
 * when the server has answered (rejected with its error, if any).
 */
class CopyIn {
  constructor(text) {
    this.text = text;
    this.error = null;
    this.finished = false;
    this.connection = null;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.ready.catch(() => {});
    this.done.catch(() => {});
  }
  submit(connection) {
    connection.query(this.text);
  }
  handleCopyInResponse(connection) {
    this.connection = connection;
    this.resolveReady();
  }
  handleCommandComplete(msg) {
    this.command = msg.text;
  }
  // pg drops the active query when the server reports an error (its ReadyForQuery then
  // reaches no one): the error settles everything.
  handleError(err) {
    this.error = err;
    this.finished = true;
    this.rejectReady(err);
    this.rejectDone(err);
  }
  handleReadyForQuery() {
    this.finished = true;
    if (this.error) this.rejectDone(this.error);
    else this.resolveDone(this.command);
  }
}

/**
 * Fill `<schema>.events2`.
 * @param {import('pg').Client | import('pg').PoolClient} client
 * @param {{ events: number, instances: number, seed: number, schema?: string, samePositionRate?: number, chunkSize?: number }} options
 */
export async function generateEvents(client, { events, instances, seed, schema = 'eventstore', samePositionRate = 0, chunkSize = 4000 }) {
  if (!Number.isInteger(events) || events < 1) throw new Error(`events must be a positive integer, got ${events}`);
  if (!Number.isInteger(instances) || instances < 1) throw new Error(`instances must be a positive integer, got ${instances}`);
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, got ${seed}`);
  const rand = mulberry32(seed);
  const int = (n) => Math.floor(rand() * n); // 0..n-1
  const pick = (arr) => arr[int(arr.length)];
  const chance = (p) => rand() < p;

  // ---- ids (18 digits, like ZITADEL's) ----
  const usedIds = new Set();
  const newId = () => {
    for (;;) {
      const id = `${1 + int(9)}${pad(int(1e8), 8)}${pad(int(1e9), 9)}`;
      if (!usedIds.has(id)) {
        usedIds.add(id);
        return id;
      }
    }
  };

  // ---- state of the generated world ----
  /** @type {Array<{ id: string, name: string, domain: string, orgs: any[], users: any[], projects: any[], defaultOrg: any }>} */
  const world = [];
  const table = `"${schema.replace(/"/g, '""')}".events2`;
  const byType = Object.create(null);
  let total = 0;
  let unrelated = 0;
  let clock = START_MICROS;
  let lastPosition = null;
  let firstPosition = null;

  // ---- rows go to the server through one COPY ... FROM STDIN, a chunk at a time ----
  // (the server writes while the next chunk is built; a full socket buffer waits to drain)
  let rows = [];
  let copy = null;
  const flush = async () => {
    if (rows.length === 0) return;
    const chunk = Buffer.from(rows.join(''));
    rows = [];
    if (copy.error) throw copy.error;
    copy.connection.sendCopyFromChunk(chunk);
    const stream = copy.connection.stream;
    if (stream.writableNeedDrain) await new Promise((resolve) => stream.once('drain', resolve));
  };

  /**
   * One push: events `[aggregate, type, payload]` in order; aggregate = { instance, type, id, owner }.
   */
  let lastAggregates = new Set();
  const push = async (creator, list) => {
    const aggregates = new Set(list.map(([agg]) => agg));
    if (samePositionRate > 0 && lastPosition !== null && chance(samePositionRate) && ![...aggregates].some((a) => lastAggregates.has(a))) {
      // Same microsecond as the previous push: another transaction (on other aggregates).
    } else {
      clock += 1 + int(chance(0.05) ? 2_000_000 : 4000);
    }
    const [position, createdAt] = timeOf(clock);
    if (firstPosition === null) firstPosition = position;
    lastPosition = position;
    lastAggregates = aggregates;
    let order = 0;
    for (const [agg, type, payload] of list) {
      const sequence = (agg.seq = (agg.seq ?? 0) + 1);
      const revision = type === 'user.added' || type === 'user.selfregistered' ? 1 : REVISION[agg.type] ?? 1;
      // COPY text format: every value but the payload is digits, letters and . - : @ _; the
      // payload is JSON, whose only special character here can be a backslash.
      let p = payload === null || payload === undefined ? '\\N' : JSON.stringify(payload);
      if (p.includes('\\') && p !== '\\N') p = p.replace(/\\/g, '\\\\');
      rows.push(`${agg.instance}\t${agg.type}\t${agg.id}\t${type}\t${sequence}\t${revision}\t${createdAt}\t${p}\t${creator}\t${agg.owner}\t${position}\t${++order}\n`);
      byType[type] = (byType[type] ?? 0) + 1;
      total++;
      if (!PROJECTED_TYPES.has(type)) unrelated++;
    }
    if (rows.length >= chunkSize) await flush();
  };

  // ---- payload makers ----
  const personName = () => [pick(FIRST_NAMES), pick(LAST_NAMES)];
  const hash = () => `$2a$14$${Array.from({ length: 53 }, () => 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./'[int(64)]).join('')}`;
  const humanPayload = (org, v1) => {
    const [first, last] = personName();
    const userName = `${first.toLowerCase()}.${last.toLowerCase()}.${int(1e6)}`;
    const p = { userName, firstName: first, lastName: last, displayName: `${first} ${last}` };
    if (chance(0.3)) p.nickName = first.slice(0, 3);
    // language.Tag has no omitempty effect: the root tag is written as "und".
    p.preferredLanguage = pick(LANGUAGES);
    if (chance(0.6)) p.gender = 1 + int(3);
    p.email = `${userName}@${org.domain}`;
    if (chance(0.3)) p.phone = `+41 79 ${pad(int(1000), 3)} ${pad(int(100), 2)} ${pad(int(100), 2)}`;
    if (v1) {
      if (chance(0.7)) p.secret = { CryptoType: 1, Algorithm: 'bcrypt', KeyID: '', Crypted: Buffer.from(hash()).toString('base64') };
    } else if (chance(0.6)) p.encodedHash = hash();
    if (chance(0.2)) p.changeRequired = true;
    return p;
  };

  // ---- commands ----
  const addOrg = async (inst, name, creator) => {
    const org = { id: newId(), name, domain: `${name}.${inst.domain}`, users: [], active: true, removed: false };
    const agg = { instance: inst.id, type: 'org', id: org.id, owner: org.id };
    org.agg = agg;
    await push(creator, [
      [agg, 'org.added', { name }],
      [agg, 'org.domain.added', { domain: org.domain }],
      [agg, 'org.domain.verified', { domain: org.domain }],
      [agg, 'org.domain.primary.set', { domain: org.domain }],
    ]);
    inst.orgs.push(org);
    return org;
  };

  const addUser = async (inst, org, creator, kind) => {
    const id = newId();
    const agg = { instance: inst.id, type: 'user', id, owner: org.id };
    const user = { id, agg, org, kind, state: 'active', emailVerified: false };
    if (kind === 'machine') {
      const name = `${pick(WORDS)}-bot-${int(1e4)}`;
      const p = { userName: name, name };
      if (chance(0.5)) p.description = `service account of ${org.name}`;
      if (chance(0.3)) p.accessTokenType = 1;
      await push(creator, [[agg, 'user.machine.added', p]]);
    } else {
      const type = kind === 'v1' ? (chance(0.5) ? 'user.added' : 'user.selfregistered') : kind === 'self' ? 'user.human.selfregistered' : 'user.human.added';
      const payload = humanPayload(org, kind === 'v1');
      user.userName = payload.userName;
      const list = [[agg, type, payload]];
      if (!payload.encodedHash && !payload.secret && chance(0.5)) list.push([agg, 'user.human.initialization.code.added', { code: { CryptoType: 0, Algorithm: 'aes', KeyID: 'userKey', Crypted: 'Y29kZQ==' }, expiry: 259200000000000 }]);
      await push(kind === 'self' ? id : creator, list);
    }
    org.users.push(user);
    inst.users.push(user);
    return user;
  };

  const addInstance = async () => {
    const id = newId();
    const name = `${pick(WORDS)}-${world.length + 1}`;
    const inst = { id, name, domain: `${name}.zitadel.example`, orgs: [], users: [], projects: [] };
    const iAgg = { instance: id, type: 'instance', id, owner: id };
    inst.agg = iAgg;
    world.push(inst);
    const org = { id: newId(), name: 'ZITADEL', domain: `zitadel.${inst.domain}`, users: [], active: true, removed: false };
    const oAgg = { instance: id, type: 'org', id: org.id, owner: org.id };
    org.agg = oAgg;
    const project = { id: newId(), org };
    const pAgg = { instance: id, type: 'project', id: project.id, owner: org.id };
    project.agg = pAgg;
    const admin = { id: newId(), org, kind: 'human', state: 'active', emailVerified: true };
    const uAgg = { instance: id, type: 'user', id: admin.id, owner: org.id };
    admin.agg = uAgg;
    const adminPayload = humanPayload(org, false);
    admin.userName = adminPayload.userName;
    const appId = newId();
    const clientId = `${appId}@zitadel`;
    // One push, as ZITADEL's instance setup (a shortened list of its many events).
    await push('SYSTEM', [
      [iAgg, 'instance.added', { name }],
      [iAgg, 'instance.default.language.set', { language: 'en' }],
      [iAgg, 'instance.policy.password.complexity.added', { minLength: 8, hasLowercase: true, hasUppercase: true, hasNumber: true, hasSymbol: true }],
      [iAgg, 'instance.policy.login.added', { allowUsernamePassword: true, allowRegister: true, allowExternalIdp: true }],
      [iAgg, 'instance.domain.added', { domain: inst.domain, generated: true }],
      [iAgg, 'instance.domain.primary.set', { domain: inst.domain }],
      [oAgg, 'org.added', { name: org.name }],
      [oAgg, 'org.domain.added', { domain: org.domain }],
      [oAgg, 'org.domain.verified', { domain: org.domain }],
      [oAgg, 'org.domain.primary.set', { domain: org.domain }],
      [iAgg, 'instance.default.org.set', { orgId: org.id }],
      [pAgg, 'project.added', { name: 'ZITADEL' }],
      [pAgg, 'project.application.added', { appId, name: 'Console' }],
      [pAgg, 'project.application.config.oidc.added', { appId, clientId, version: 1, responseTypes: [0], grantTypes: [0] }],
      [iAgg, 'instance.iam.project.set', { iamProjectId: project.id }],
      [iAgg, 'instance.iam.console.set', { clientId, appId }],
      [uAgg, 'user.human.added', adminPayload],
      [uAgg, 'user.human.email.verified', {}],
      [oAgg, 'org.member.added', { userId: admin.id, roles: ['ORG_OWNER'] }],
      [iAgg, 'instance.member.added', { userId: admin.id, roles: ['IAM_OWNER'] }],
    ]);
    inst.orgs.push(org);
    inst.defaultOrg = org;
    inst.projects.push(project);
    org.users.push(admin);
    inst.users.push(admin);
    inst.admin = admin;
    return inst;
  };

  const liveUser = (inst) => {
    for (let tries = 0; tries < 8 && inst.users.length > 0; tries++) {
      const i = int(inst.users.length);
      const u = inst.users[i];
      if (u.state !== 'removed' && !u.org.removed) return u;
      inst.users[i] = inst.users[inst.users.length - 1];
      inst.users.pop();
    }
    return undefined;
  };
  const liveOrg = (inst) => {
    const orgs = inst.orgs.filter((o) => !o.removed);
    return orgs.length > 0 ? pick(orgs) : undefined;
  };

  /** A command whose events the projections read (most also carry an unread one or two). */
  const relatedCommand = async (inst) => {
    const creator = inst.admin.id;
    const r = rand();
    if (r < 0.05 || inst.orgs.length < 2) {
      await addOrg(inst, `${pick(WORDS)}-${int(1e5)}`, creator);
      return;
    }
    if (r < 0.4) {
      const org = chance(0.3) ? inst.defaultOrg : liveOrg(inst);
      const k = rand();
      await addUser(inst, org, creator, k < 0.85 ? 'human' : k < 0.93 ? 'machine' : k < 0.97 ? 'self' : 'v1');
      return;
    }
    if (r < 0.88) {
      const u = liveUser(inst);
      if (!u) return addUser(inst, inst.defaultOrg, creator, 'human');
      const a = u.agg;
      const k = rand();
      if (u.kind !== 'machine' && k < 0.3) {
        const email = `${(u.userName ?? u.id).split('@')[0]}.${int(1000)}@${u.org.domain}`;
        u.emailVerified = false;
        const list = [[a, 'user.human.email.changed', { email }]];
        if (chance(0.5)) list.push([a, 'user.human.email.code.added', { code: { CryptoType: 0, Algorithm: 'aes', KeyID: 'userKey', Crypted: 'Y29kZQ==' }, expiry: 3600000000000 }]);
        await push(creator, list);
      } else if (u.kind !== 'machine' && k < 0.5 && !u.emailVerified) {
        u.emailVerified = true;
        await push(u.id, [[a, 'user.human.email.verified', {}]]);
      } else if (k < 0.6) {
        u.userName = `${pick(WORDS)}.${int(1e7)}`;
        await push(creator, [[a, 'user.username.changed', { userName: u.userName }]]);
      } else if (k < 0.63) {
        u.userName = `${u.id}@temporary.${inst.domain}`;
        await push(creator, [[a, 'user.domain.claimed', { userName: u.userName }]]);
      } else if (k < 0.75) {
        if (u.state === 'locked') {
          u.state = 'active';
          await push(creator, [[a, 'user.unlocked', null]]);
        } else if (u.state === 'active') {
          u.state = 'locked';
          await push(creator, [[a, 'user.locked', null]]);
        }
      } else if (k < 0.9) {
        if (u.state === 'inactive') {
          u.state = 'active';
          await push(creator, [[a, 'user.reactivated', null]]);
        } else if (u.state === 'active') {
          u.state = 'inactive';
          await push(creator, [[a, 'user.deactivated', null]]);
        }
      } else if (u !== inst.admin) {
        u.state = 'removed';
        await push(creator, [[a, 'user.removed', null]]);
      }
      return;
    }
    const org = liveOrg(inst);
    if (!org) return;
    const a = org.agg;
    const k = rand();
    if (k < 0.45) {
      org.name = `${pick(WORDS)}-${int(1e5)}`;
      await push(creator, [[a, 'org.changed', { name: org.name }]]);
    } else if (k < 0.7) {
      const domain = `${pick(WORDS)}${int(1e4)}.example`;
      org.domain = domain;
      await push(creator, [
        [a, 'org.domain.added', { domain }],
        [a, 'org.domain.verification.added', { domain, validationType: 1, validationCode: { CryptoType: 0, Algorithm: 'aes', KeyID: 'domainKey', Crypted: 'Y29kZQ==' } }],
        [a, 'org.domain.verified', { domain }],
        [a, 'org.domain.primary.set', { domain }],
      ]);
    } else if (k < 0.97 || org === inst.defaultOrg) {
      org.active = !org.active;
      await push(creator, [[a, org.active ? 'org.reactivated' : 'org.deactivated', null]]);
    } else {
      org.removed = true;
      await push(creator, [[a, 'org.removed', null]]);
    }
  };

  /** A command no projection here reads. */
  const unrelatedCommand = async (inst) => {
    const creator = inst.admin.id;
    const k = rand();
    if (k < 0.45) {
      const u = liveUser(inst);
      if (u) {
        await push(u.id, [
          [u.agg, 'user.human.password.check.succeeded', { userAgentID: `ua-${int(1e6)}` }],
          [u.agg, 'user.token.added', { tokenId: newId(), applicationId: 'console', userAgentId: `ua-${int(1e6)}`, audience: [inst.id], scopes: ['openid', 'profile'], expiration: '2024-02-01T00:00:00Z', preferredLanguage: 'en' }],
        ]);
        return;
      }
    }
    if (k < 0.6) {
      const u = liveUser(inst);
      if (u) {
        await push(u.id, [[u.agg, 'user.human.signed.out', { userAgentID: `ua-${int(1e6)}` }]]);
        return;
      }
    }
    if (k < 0.75 || inst.projects.length === 0) {
      const org = liveOrg(inst) ?? inst.defaultOrg;
      const project = { id: newId(), org };
      project.agg = { instance: inst.id, type: 'project', id: project.id, owner: org.id };
      inst.projects.push(project);
      await push(creator, [
        [project.agg, 'project.added', { name: `${pick(WORDS)}-app-${int(1e4)}`, projectRoleAssertion: chance(0.5) }],
        [project.agg, 'project.member.added', { userId: creator, roles: ['PROJECT_OWNER'] }],
      ]);
      return;
    }
    const project = pick(inst.projects);
    if (k < 0.9) {
      await push(creator, [[project.agg, 'project.role.added', { key: `role-${int(1e4)}`, displayName: 'Role', group: '' }]]);
    } else {
      await push(creator, [[project.agg, 'project.changed', { name: `${pick(WORDS)}-app-${int(1e4)}` }]]);
    }
  };

  // ---- the run ----
  await client.query('BEGIN');
  try {
    copy = new CopyIn(
      `COPY ${table} (instance_id, aggregate_type, aggregate_id, event_type, "sequence", revision, created_at, payload, creator, "owner", "position", in_tx_order) FROM STDIN`,
    );
    client.query(copy);
    await copy.ready;
    // Instances come in over the first half of the run.
    const instanceEvery = Math.max(1, Math.floor(events / 2 / instances));
    while (total < events) {
      if (world.length < instances && (world.length === 0 || total >= world.length * instanceEvery)) {
        await addInstance();
        continue;
      }
      const inst = pick(world);
      if (chance(0.01)) {
        inst.name = `${pick(WORDS)}-${int(1e4)}`;
        await push(inst.admin.id, [[inst.agg, 'instance.changed', { name: inst.name }]]);
      } else if (unrelated < total * 0.3 && chance(0.5)) {
        await unrelatedCommand(inst);
      } else {
        await relatedCommand(inst);
      }
    }
    await flush();
    copy.connection.endCopyFrom();
    await copy.done;
    await client.query('COMMIT');
  } catch (err) {
    if (copy?.connection && !copy.finished) {
      copy.connection.sendCopyFail('generation failed');
    }
    await copy?.done.catch(() => {});
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
  return { events: total, byType, instances: world.map((i) => i.id), firstPosition, lastPosition };
}

/** ZITADEL's events2 (plugins/zitadel/sql/init_03_events2.sql) in `schema`: the table with its keys. */
export function events2Ddl(schema = 'eventstore') {
  return `${events2TableDdl(schema)}\n${events2KeysDdl(schema)}`;
}

/** The schema and the bare table (its primary key and indexes: events2KeysDdl). */
export function events2TableDdl(schema = 'eventstore') {
  const s = `"${schema.replace(/"/g, '""')}"`;
  return `CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.events2 (
    instance_id    TEXT        NOT NULL,
    aggregate_type TEXT        NOT NULL,
    aggregate_id   TEXT        NOT NULL,

    event_type     TEXT        NOT NULL,
    "sequence"     BIGINT      NOT NULL,
    revision       SMALLINT    NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    payload        JSONB,
    creator        TEXT        NOT NULL,
    "owner"        TEXT        NOT NULL,

    "position"     DECIMAL     NOT NULL,
    in_tx_order    INTEGER     NOT NULL
);`;
}

/** events2's primary key (events2_pkey, as CREATE TABLE names it) and ZITADEL's three indexes. */
export function events2KeysDdl(schema = 'eventstore') {
  const s = `"${schema.replace(/"/g, '""')}"`;
  return `DO $$ BEGIN
    ALTER TABLE ${s}.events2 ADD PRIMARY KEY (instance_id, aggregate_type, aggregate_id, "sequence");
EXCEPTION WHEN invalid_table_definition THEN NULL; -- it has one
END $$;
CREATE INDEX IF NOT EXISTS es_active_instances ON ${s}.events2 (created_at DESC, instance_id);
CREATE INDEX IF NOT EXISTS es_wm ON ${s}.events2 (aggregate_id, instance_id, aggregate_type, event_type);
CREATE INDEX IF NOT EXISTS es_projection ON ${s}.events2 (instance_id, aggregate_type, event_type, "position");`;
}

// ---- CLI ----------------------------------------------------------------------------------

function parseArgs(argv) {
  const opts = { events: 320000, instances: 100, seed: 1, schema: 'eventstore', samePositionRate: 0, url: process.env.DATABASE_URL };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = (v) => {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new Error(`${a} must be a number, got ${v}`);
      return n;
    };
    if (a === '--url') opts.url = value();
    else if (a === '--events') opts.events = num(value());
    else if (a === '--instances') opts.instances = num(value());
    else if (a === '--seed') opts.seed = num(value());
    else if (a === '--schema') opts.schema = value();
    else if (a === '--same-position-rate') opts.samePositionRate = num(value());
    else if (a === '--help' || a === '-h') opts.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.help || !opts.url) {
    process.stdout.write('usage: node scripts/zitadel-events.mjs --url postgres://... [--events 320000] [--instances 100] [--seed 1] [--schema eventstore] [--same-position-rate 0]\n');
    process.exitCode = opts.help ? 0 : 2;
    return;
  }
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: opts.url });
  await client.connect();
  try {
    const started = Date.now();
    // A new table is filled first and keyed after (one index build instead of a million
    // index inserts); an existing one as it is.
    const quoted = `"${opts.schema.replace(/"/g, '""')}".events2`;
    const { rows } = await client.query('SELECT to_regclass($1) IS NULL AS missing', [quoted]);
    const fresh = rows[0].missing;
    await client.query(fresh ? events2TableDdl(opts.schema) : events2Ddl(opts.schema));
    const result = await generateEvents(client, opts);
    const filled = (Date.now() - started) / 1000;
    if (fresh) {
      await client.query(`SET maintenance_work_mem = '256MB'`);
      await client.query(events2KeysDdl(opts.schema));
    }
    const seconds = (Date.now() - started) / 1000;
    const types = Object.entries(result.byType).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const width = Math.max(...types.map(([t]) => t.length));
    let read = 0;
    for (const [type, count] of types) {
      const projected = PROJECTED_TYPES.has(type);
      if (projected) read += count;
      process.stdout.write(`${type.padEnd(width)}  ${String(count).padStart(9)}${projected ? '' : '  (not projected)'}\n`);
    }
    process.stdout.write(
      `${result.events} events over ${result.instances.length} instances in ${seconds.toFixed(1)} s` +
        (fresh ? ` (rows ${filled.toFixed(1)} s, then keys and indexes)` : '') +
        '; ' +
        `${read} (${((100 * read) / result.events).toFixed(1)}%) of types the instances / orgs1 / users14 projections read; ` +
        `positions ${result.firstPosition} .. ${result.lastPosition}\n`,
    );
  } finally {
    await client.end();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`zitadel-events: ${process.env.DEBUG ? err?.stack ?? err : err?.message ?? err}\n`);
    process.exitCode = 1;
  });
}
