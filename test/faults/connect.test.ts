/**
 * The first connection (issue 11, "Connections"): what no retry can fix fails at once with
 * its own hint (a missing database or role, a wrong password, SSL required or refused, no
 * CONNECT privilege); only refusals, timeouts, unresolved names and a server that cannot
 * take the connection yet are retried within --connect-timeout, and only their message
 * suggests raising it. Every one: exit 5, two lines on stderr (or one JSON object with
 * `code` and `hint`), no stack trace, the URL with its password redacted; on every command.
 *
 * The missing database, role and CONNECT privilege are the real server's answers; an
 * authentication failure and the SSL answers come from a fake server (test/fake-pg.ts)
 * speaking the wire protocol, since the test server trusts everyone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { adminQuery, cli, createDb, HEADER, scratch, type CliResult } from '../helpers.js';
import { fakePg } from '../fake-pg.js';

const STACK = /^\s+at .+:\d+:\d+\)?$/m;
const COMMANDS = ['plan', 'apply', 'status', 'cleanup'] as const;
const PASSWORD = 'Pw-s3cret-7781';
const d = scratch({ 'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [step('01', { sql: 'SELECT 1' })] });` });
test.after(() => d.remove());

async function timed(args: string[], url: string): Promise<CliResult & { ms: number }> {
  const t0 = Date.now();
  const r = await cli(args, { cwd: d.dir, url });
  return { ...r, ms: Date.now() - t0 };
}

/** The text error: exactly `zsetup: ...` and `hint: ...` on stderr, exit 5, nothing leaked. */
function textError(r: CliResult & { ms: number }, what: string): { message: string; hint: string } {
  const out = r.stdout + r.stderr;
  assert.is(r.code, 5, `${what}: exit code\n${out}`);
  assert.not.match(out, STACK, `${what}: no stack trace\n${out}`);
  assert.not.match(out, /internal error/, `${what}\n${out}`);
  assert.not.ok(out.includes(PASSWORD), `${what}: the password is never printed\n${out}`);
  // Node's own warnings are left out: pg warns once per process that it treats sslmode=require
  // as verify-full (a security notice of the driver's, on successful runs too).
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/^\(node:\d+\) |^(In the next|To prepare|- If you|See https|\(Use `node)/.test(l));
  assert.is(lines.length, 2, `${what}: two lines on stderr\n${r.stderr}`);
  assert.match(lines[0]!, /^zsetup: /, what);
  assert.match(lines[1]!, /^hint: /, what);
  return { message: lines[0]!, hint: lines[1]! };
}

/** The JSON error: stdout is JSON lines only, one error object with `code`, `hint`. */
function jsonError(r: CliResult & { ms: number }, what: string): { status: string; code: string; sqlstate?: string; message: string; hint: string } {
  assert.is(r.code, 5, `${what}: exit code\n${r.stdout}${r.stderr}`);
  assert.not.ok((r.stdout + r.stderr).includes(PASSWORD), `${what}: the password is never printed`);
  const errors = r.json().filter((o) => o.type === 'error');
  assert.is(errors.length, 1, `${what}: one error object\n${r.stdout}`);
  assert.is(errors[0].status, 'unreachable', what);
  return errors[0];
}

test('a database that does not exist: every command fails at once (not after --connect-timeout 30s) with its own hint', async () => {
  const name = `zs_missing_${randomBytes(4).toString('hex')}`;
  const url = `postgres://root:${PASSWORD}@127.0.0.1:5432/${name}`;
  for (const cmd of COMMANDS) {
    const r = await timed([cmd, '--connect-timeout', '30s'], url);
    const { message, hint } = textError(r, cmd);
    assert.ok(r.ms < 10_000, `${cmd}: failed at once, not after the 30 s connect timeout (${r.ms} ms)`);
    assert.match(message, new RegExp(`database "${name}" does not exist`), cmd);
    assert.match(message, /not retried/, cmd);
    assert.ok(message.includes(`postgres://root:***@127.0.0.1:5432/${name}`), `${cmd}: the URL, its password redacted: ${message}`);
    assert.match(hint, new RegExp(`createdb -h 127\\.0\\.0\\.1 -p 5432 ${name}|CREATE DATABASE ${name}`), cmd);
    assert.match(hint, /ZSETUP_DATABASE_URL/, `${cmd}: says where the URL came from`);
    assert.not.match(message + hint, /connect-timeout/, `${cmd}: no advice to wait longer: ${message} ${hint}`);

    const j = await timed([cmd, '--json', '--connect-timeout', '30s'], url);
    const e = jsonError(j, `${cmd} --json`);
    assert.ok(j.ms < 10_000, `${cmd} --json: ${j.ms} ms`);
    assert.is(e.code, 'database-missing');
    assert.is(e.sqlstate, '3D000');
    assert.match(e.hint, /createdb|CREATE DATABASE/);
  }
});

test('a role that does not exist fails at once, naming the user', async () => {
  const role = `zs_norole_${randomBytes(4).toString('hex')}`;
  const url = `postgres://${role}:${PASSWORD}@127.0.0.1:5432/postgres`;
  const r = await timed(['apply', '--connect-timeout', '30s'], url);
  const { message, hint } = textError(r, 'apply');
  assert.ok(r.ms < 10_000, `failed at once (${r.ms} ms)`);
  assert.match(message, new RegExp(`role "${role}" does not exist`));
  assert.match(hint, new RegExp(`user name .*CREATE ROLE ${role} LOGIN`));
  assert.not.match(message + hint, /connect-timeout/);
  const e = jsonError(await timed(['status', '--json', '--connect-timeout', '30s'], url), 'status --json');
  assert.is(e.code, 'role-missing');
  assert.is(e.sqlstate, '28000');
});

test('no CONNECT privilege on the database fails at once with the GRANT that fixes it', async () => {
  const db = await createDb();
  const role = `zs_noconn_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE ROLE ${role} LOGIN`);
  try {
    await adminQuery(`REVOKE CONNECT ON DATABASE ${db.name} FROM PUBLIC`);
    const url = `postgres://${role}:${PASSWORD}@127.0.0.1:5432/${db.name}`;
    const r = await timed(['plan', '--connect-timeout', '30s'], url);
    const { message, hint } = textError(r, 'plan');
    assert.ok(r.ms < 10_000, `failed at once (${r.ms} ms)`);
    assert.match(message, new RegExp(`permission denied for database "${db.name}"`));
    assert.match(hint, new RegExp(`GRANT CONNECT ON DATABASE ${db.name} TO ${role}`));
    const e = jsonError(await timed(['cleanup', '--json', '--connect-timeout', '30s'], url), 'cleanup --json');
    assert.is(e.code, 'connect-privilege');
    assert.is(e.sqlstate, '42501');
  } finally {
    await db.drop();
    await adminQuery(`DROP ROLE IF EXISTS ${role}`);
  }
});

test('authentication failed (28P01, fake server): at once, one attempt, the user named, the password sent but never printed', async () => {
  const fake = await fakePg({ askPassword: true, error: { code: '28P01', message: 'password authentication failed for user "zitadel"' } });
  try {
    const url = `postgres://zitadel:${PASSWORD}@127.0.0.1:${fake.port}/zitadel`;
    const r = await timed(['status', '--connect-timeout', '30s'], url);
    const { message, hint } = textError(r, 'status');
    assert.ok(r.ms < 10_000, `failed at once (${r.ms} ms)`);
    assert.is(fake.startups, 1, 'one attempt: a wrong password is not retried');
    assert.equal(fake.passwords, [PASSWORD], 'the client did send the password (so the output checks above could see it)');
    assert.match(message, /password authentication failed for user "zitadel"/);
    assert.ok(message.includes(`postgres://zitadel:***@127.0.0.1:${fake.port}/zitadel`), message);
    assert.match(hint, /check the password of user "zitadel"/);
    assert.match(hint, /pg_hba\.conf/);
    assert.not.match(message + hint, /connect-timeout/);
    const e = jsonError(await timed(['apply', '--json', '--connect-timeout', '30s'], url), 'apply --json');
    assert.is(e.code, 'auth-failed');
    assert.is(e.sqlstate, '28P01');
  } finally {
    await fake.close();
  }
});

test('the server requires SSL (fake server: no pg_hba.conf entry ..., no encryption): at once, says which sslmode to use', async () => {
  const fake = await fakePg({ error: { code: '28000', message: 'no pg_hba.conf entry for host "127.0.0.1", user "root", database "zitadel", no encryption' } });
  try {
    const url = `postgres://root:${PASSWORD}@127.0.0.1:${fake.port}/zitadel`;
    const r = await timed(['plan', '--connect-timeout', '30s'], url);
    const { message, hint } = textError(r, 'plan');
    assert.ok(r.ms < 10_000, `failed at once (${r.ms} ms)`);
    assert.is(fake.startups, 1, 'not retried');
    assert.match(message, /accepts only SSL connections/);
    assert.match(hint, /sslmode=verify-full/);
    assert.match(hint, /sslmode=no-verify/);
    assert.is(jsonError(await timed(['plan', '--json', '--connect-timeout', '30s'], url), 'plan --json').code, 'ssl-required');
  } finally {
    await fake.close();
  }
});

test("SSL refused (fake server answers 'N' to sslmode=require): at once, says to connect without SSL", async () => {
  const fake = await fakePg({ error: { code: 'XX000', message: 'unreachable: the client asked for SSL' } });
  try {
    const url = `postgres://root:${PASSWORD}@127.0.0.1:${fake.port}/zitadel?sslmode=require`;
    const r = await timed(['status', '--connect-timeout', '30s'], url);
    const { message, hint } = textError(r, 'status');
    assert.ok(r.ms < 10_000, `failed at once (${r.ms} ms)`);
    assert.is(fake.sslRequests, 1, 'one SSLRequest: not retried');
    assert.is(fake.startups, 0, 'no clear-text startup after the refusal');
    assert.match(message, /does not support SSL, and ZSETUP_DATABASE_URL asks for it \(sslmode=require\)/);
    assert.match(hint, /sslmode=disable/);
    assert.not.match(message + hint, /connect-timeout/);
    assert.is(jsonError(await timed(['cleanup', '--json', '--connect-timeout', '30s'], url), 'cleanup --json').code, 'ssl-unsupported');
  } finally {
    await fake.close();
  }
});

test('a server starting up (57P03) or full (53300) is retried; what follows is answered as itself', async () => {
  const fake = await fakePg((n) =>
    n === 1
      ? { error: { code: '57P03', message: 'the database system is starting up' } }
      : n === 2
        ? { error: { code: '53300', message: 'sorry, too many clients already' } }
        : { error: { code: '3D000', message: 'database "zitadel" does not exist' } },
  );
  try {
    const r = await timed(['plan', '--connect-timeout', '30s'], `postgres://root@127.0.0.1:${fake.port}/zitadel`);
    const { message } = textError(r, 'plan');
    assert.is(fake.startups, 3, 'starting up and too many connections were retried, the missing database was not');
    assert.match(message, /database "zitadel" does not exist/);
    assert.ok(r.ms < 10_000, `${r.ms} ms`);
  } finally {
    await fake.close();
  }
  // Still starting when the connect timeout ends: says so, and only then suggests waiting longer.
  const starting = await fakePg({ error: { code: '57P03', message: 'the database system is starting up' } });
  try {
    const r = await timed(['status', '--connect-timeout', '2s'], `postgres://root@127.0.0.1:${starting.port}/zitadel`);
    const { message, hint } = textError(r, 'status');
    assert.ok(starting.startups >= 2, `retried (${starting.startups} attempts)`);
    assert.match(message, /does not accept connections yet: the database system is starting up \(SQLSTATE 57P03\); tried \d+ times over 2(\.\d)? s/);
    assert.match(hint, /raise --connect-timeout \(now 2 s/);
    assert.ok(r.ms >= 2000, `waited the connect timeout (${r.ms} ms)`);
  } finally {
    await starting.close();
  }
});

test('a refused port (nothing listening) is retried until --connect-timeout, then says what was tried, for how long, and only then to raise it', async () => {
  const url = `postgres://root:${PASSWORD}@127.0.0.1:1/zitadel`;
  for (const cmd of ['plan', 'cleanup']) {
    const r = await timed([cmd, '--connect-timeout', '2s'], url);
    const { message, hint } = textError(r, cmd);
    assert.ok(r.ms >= 2000, `${cmd}: retried for the whole connect timeout (${r.ms} ms)`);
    assert.ok(r.ms < 8000, `${cmd}: and gave up soon after (${r.ms} ms)`);
    assert.match(message, /cannot reach PostgreSQL at 127\.0\.0\.1:1: connection refused \(ECONNREFUSED\)/);
    const tries = Number(/tried (\d+) times over 2(\.\d)? s/.exec(message)?.[1]);
    assert.ok(tries >= 2, `${cmd}: says how often and how long it tried: ${message}`);
    assert.ok(message.includes(`postgres://root:***@127.0.0.1:1/zitadel`), message);
    assert.match(hint, /raise --connect-timeout \(now 2 s/);
  }
  const e = jsonError(await timed(['apply', '--json', '--connect-timeout', '1s'], url), 'apply --json');
  assert.is(e.code, 'refused');
  assert.match(e.hint, /--connect-timeout/);
});

test('a host name that does not resolve is retried (DNS may not know it yet), then named, typo first', async () => {
  const r = await timed(['plan', '--connect-timeout', '1s'], `postgres://root:${PASSWORD}@zsetup-no-such-host.invalid:5432/zitadel`);
  const { message, hint } = textError(r, 'plan');
  assert.ok(r.ms >= 1000, `retried for the connect timeout (${r.ms} ms)`);
  assert.match(message, /the host name "zsetup-no-such-host\.invalid" does not resolve \((ENOTFOUND|EAI_AGAIN)\); tried \d+ times/);
  assert.match(hint, /typo.*raise --connect-timeout/);
});

test('an invalid URL is a config error (exit 2) at once, its fix legible and its password hidden', async () => {
  const r = await timed(['apply', '--connect-timeout', '30s'], `postgres://root:pa#ss${PASSWORD}@127.0.0.1:5432/zitadel`);
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.ok(r.ms < 10_000, `${r.ms} ms`);
  assert.match(r.stderr, /ZSETUP_DATABASE_URL: a raw "#" in the password \(percent-encode it: # as %23/, 'the advice is not scrubbed as if it were a password');
  assert.not.ok((r.stdout + r.stderr).includes(PASSWORD));
  assert.not.match(r.stdout + r.stderr, STACK);
});

test.run();
