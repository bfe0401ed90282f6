/**
 * Config validation in process (no CLI, no database): values checked against their real
 * limits and named by where they came from (config key, flag or environment variable),
 * every problem at once including plugins whose register() throws, plugins that drop a
 * contract they replace, and plans of 10,000 steps. The CLI's rendering (exit 2, one line
 * per problem, database untouched) is covered by test/cli/validation.test.ts and
 * test/cli/edges.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../src/config/resolve.js';
import { loadProject as coreLoadProject, type LoadOptions } from '../../src/config/project.js';
import { defaultPlugins } from '../../plugins/index.js';
import { planSteps } from '../../src/plan/planner.js';
import { ConfigError, type ConfigProblem } from '../../src/errors.js';
import { step, type Plugin, type UserConfig } from '../../src/config/dsl.js';

/** The core's loadProject with the built-in plugins, as the package entry binds them. */
const loadProject = (o: LoadOptions) => coreLoadProject({ defaults: defaultPlugins(), ...o });
import { Tokens } from '../../src/container.js';

const CWD = '/tmp/zsetup-unit';
const FILE = `${CWD}/zsetup.config.ts`;

/** The problems of `raw` (with `env` and `flags`), as `key: message` lines. */
function problems(raw: unknown, env: Record<string, string> = {}, flags: Record<string, string> = {}): string[] {
  return resolveConfig(raw, FILE, env, flags, 'host:1:abc', CWD).problems.map((p) => `${p.path}: ${p.message}`);
}

function one(lines: string[], re: RegExp): string {
  const hits = lines.filter((l) => re.test(l));
  assert.is(hits.length, 1, `expected one line matching ${re} in:\n${lines.join('\n')}`);
  return hits[0]!;
}

const base = { steps: [step('a', { sql: 'SELECT 1' })] };

test('a bad value is named by where it came from: flag, environment variable, or config key', () => {
  one(problems({ ...base, apply: { concurrency: 2 } }, { ZSETUP_CONCURRENCY: 'abc' }), /^ZSETUP_CONCURRENCY: expected an integer from 1 to 2147483647, got a string "abc"$/);
  one(problems(base, { ZSETUP_CONCURRENCY: '4' }, { concurrency: 'x' }), /^--concurrency: /);
  one(problems({ ...base, apply: { concurrency: 0 } }), /^apply\.concurrency: /);
  one(problems(base, { ZSETUP_LOCK_TIMEOUT: 'forever' }), /^ZSETUP_LOCK_TIMEOUT: expected a duration/);
  one(problems(base, { ZSETUP_DEADLINE: '-5s' }), /^ZSETUP_DEADLINE: /);
  one(problems(base, { ZSETUP_CONNECT_TIMEOUT: 'abc' }), /^ZSETUP_CONNECT_TIMEOUT: /);
  one(problems({ ...base, lock: { kind: 5 as never } }), /^lock\.kind: expected the name of a lock kind such as "advisory" or "lease", got a number$/);
  one(problems(base, {}, { deadline: '0' }), /^--deadline: "0" is too short/);
  // An empty variable counts as unset (templated manifests leave them empty).
  assert.equal(problems(base, { ZSETUP_CONCURRENCY: '', ZSETUP_LOCK_TIMEOUT: '', ZSETUP_DATABASE_URL: '' }), []);
  for (const v of ['0', '-1', '1e3', '99999999999999999999', '2147483648', '4.5']) one(problems(base, { ZSETUP_CONCURRENCY: v }), /^ZSETUP_CONCURRENCY: /);
  assert.equal(problems(base, { ZSETUP_CONCURRENCY: ' 4 ' }), []);
});

test('durations: longer than a Node timer or a PostgreSQL lock_timeout, negative, NaN, Infinity are refused', () => {
  one(problems({ ...base, lock: { timeout: '25d' } }), /^lock\.timeout: "25d" is too long: at most 2147483647 ms .*longest timer Node\.js can set/);
  one(problems({ ...base, lock: { timeout: 3e9 } }), /^lock\.timeout: 3000000000 is too long/);
  one(problems({ ...base, apply: { ddlLockTimeout: '30d' } }), /^apply\.ddlLockTimeout: "30d" is too long: .*lock_timeout PostgreSQL accepts/);
  one(problems(base, {}, { lockTimeout: '99999999999' }), /^--lock-timeout: "99999999999" is too long/);
  one(problems(base, {}, { deadline: '30d' }), /^--deadline: "30d" is too long/);
  for (const v of [-1, Number.NaN, Number.POSITIVE_INFINITY, '', '10 x', 'ms', '-5s', '1e3s', true, {}]) {
    one(problems({ ...base, apply: { cleanupDeadline: v } }), /^apply\.cleanupDeadline: expected a duration/);
  }
  one(problems({ ...base, lock: { leaseTtl: '500ms' } }), /^lock\.leaseTtl: "500ms" is too short: at least 1000 ms/);
  // At the limit, and the readable forms, are fine.
  assert.equal(problems({ ...base, lock: { timeout: 2 ** 31 - 1, leaseTtl: '1s' }, apply: { deadline: '24d', cleanupDeadline: '10 s', ddlLockTimeout: '1h30m' } }), []);
});

test('identifiers: longer than 63 bytes (also in UTF-8), NUL bytes, control characters in step names', () => {
  one(problems({ ...base, state: { schema: 'x'.repeat(64) } }), /^state\.schema: is 64 bytes long; PostgreSQL identifiers are at most 63 bytes/);
  one(problems({ ...base, state: { schema: 'é'.repeat(32) } }), /^state\.schema: is 64 bytes long/);
  assert.equal(problems({ ...base, state: { schema: 'x'.repeat(63) } }), []);
  one(problems({ ...base, state: { schema: 'a\0b' } }), /^state\.schema: must not contain a NUL byte$/);
  one(problems({ ...base, lock: { name: 'a\0b' } }), /^lock\.name: must not contain a NUL byte/);
  one(problems({ ...base, database: { pglite: { dataDir: 'a\0b' } } }), /^database\.pglite\.dataDir: must not contain a NUL byte$/);
  one(problems({ steps: [step('a\0b', { sql: 'SELECT 1' })] }), /^steps\[0\]\.name: must not contain control characters/);
  one(problems({ steps: [step('a\nb', { sql: 'SELECT 1' })] }), /^steps\[0\]\.name: must not contain control characters/);
  // C1 controls (U+009B is a terminal escape), line separators, bidirectional overrides.
  for (const name of ['a\u0085b', 'a\u009b2Jc', 'd\u2028e', 'f\u202eg']) one(problems({ steps: [step(name, { sql: 'SELECT 1' })] }), /^steps\[0\]\.name: must not contain control characters/);
  assert.equal(problems({ steps: [step('émoji ✓ 名前', { sql: 'SELECT 1' })] }), []);
  // Schema names PostgreSQL reserves, and a lock name too long to be an index key.
  one(problems({ ...base, state: { schema: 'pg_zsetup' } }), /^state\.schema: "pg_zsetup" starts with "pg_"/);
  one(problems({ ...base, lock: { kind: 'lease', name: 'x'.repeat(6000) } }), /^lock\.name: is 6000 bytes long; at most 1024 bytes/);
});

test('URLs: two ports, raw # or / in the password, bad escapes, ports out of range; the password is never shown', () => {
  const pw = 'Pw-S3cr3t';
  const cases: Array<[string, RegExp]> = [
    [`postgres://root:${pw}@127.0.0.1:5432:5433/db`, /more than one port/],
    [`postgres://root:pa#ss${pw}@127.0.0.1/db`, /raw "#" in the password/],
    [`postgres://root:pa/ss${pw}@127.0.0.1/db`, /raw "\/" in the password/],
    [`postgres://root:${pw}@127.0.0.1/db#frag`, /raw "#"/],
    [`postgres://root:p%zz${pw}@127.0.0.1/db`, /invalid percent-encoding in the password/],
    [`postgres://root:${pw}@127.0.0.1:99999/db`, /port 99999 is out of range|"99999"/],
    [`postgres://root:${pw}@127.0.0.1:0/db`, /port 0 is out of range/],
    [`postgres://root:${pw}@127.0.0.1:abc/db`, /port "abc" is not a number/],
    [`http://root:${pw}@127.0.0.1/db`, /expected a URL like postgres:/],
    [`postgres://root:${pw}@127.0.0.1/${'d'.repeat(64)}`, /database name is 64 bytes/],
    [`postgres://root:${pw} x@127.0.0.1/db`, /spaces/],
    [`postgres://root:${pw}@127.0.0.1/db?sslmode=bogus`, /sslmode=bogus is not one of disable, allow, prefer/],
    [`postgres://root:${pw}@127.0.0.1/db?sslcert=/nonexistent/client.pem`, /sslcert: cannot read "\/nonexistent\/client\.pem" \(ENOENT\)/],
  ];
  for (const [url, re] of cases) {
    for (const [raw, env, key] of [
      [{ ...base, database: { url } }, {}, 'database.url'],
      [base, { ZSETUP_DATABASE_URL: url }, 'ZSETUP_DATABASE_URL'],
    ] as const) {
      const lines = problems(raw, env as Record<string, string>);
      const l = one(lines, re);
      assert.ok(l.startsWith(`${key}: `), l);
      assert.not.ok(l.includes(pw), `password shown: ${l}`);
    }
  }
  // What the driver accepts is accepted: an '@' in the password, IPv6, a socket host, parameters.
  for (const url of [`postgres://root:p@ss@127.0.0.1/db`, 'postgres://u@[::1]:5432/db', 'postgres://u@/db?host=/var/run/postgresql', 'postgresql://u:p%23w@h/db?sslmode=disable']) {
    assert.equal(problems({ ...base, database: { url } }), [], url);
  }
});

/** loadProject on an inline config: the ConfigError's problems, or [] when it loads. */
async function loadProblems(config: UserConfig): Promise<ConfigProblem[]> {
  try {
    await loadProject({ config, configFile: FILE, cwd: CWD, command: 'plan', env: {} });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
}

const lines = (ps: ConfigProblem[]) => ps.map((p) => [p.path, p.message].filter(Boolean).join(': '));

test('a plugin whose register() throws is one more problem, with its real index; validation goes on', async () => {
  const ok: Plugin = { name: 'ok', register() {} };
  const bad: Plugin = {
    name: 'bad',
    register() {
      throw undefined;
    },
  };
  const ps = lines(
    await loadProblems({
      plugins: [ok, (() => ok) as unknown as Plugin, null as unknown as Plugin, bad, { name: 'bad2', register: () => { throw { message: 'nope', code: 'E9' }; } }],
      steps: [step('a', { sql: 'SELECT 1', transacton: true } as never), step('b', { sql: 'SELECT 1', after: ['nope'] })],
    }),
  );
  one(ps, /^plugins\[1\]: not a plugin but a function/);
  one(ps, /^plugins\[2\]: not a plugin/);
  one(ps, /^plugins\[3\]: plugin "bad" failed to register: undefined was thrown/);
  one(ps, /^plugins\[4\]: plugin "bad2" failed to register: nope \(code E9\)$/);
  one(ps, /^steps\[0\]\.transacton \(step "a"\): unknown field/);
  one(ps, /^steps\[1\]\.after\[0\] \(step "b"\): .*unknown step "nope"/);
  assert.is(ps.length, 6, ps.join('\n'));
});

test('a plugin that replaces a built-in but registers nothing for its token is named with the token', async () => {
  for (const [name, token] of [
    ['pool', 'Tokens.Database'],
    ['journal', 'Tokens.StateStore'],
    ['lock', 'Tokens.Lock'],
  ]) {
    const ps = lines(await loadProblems({ plugins: [{ name: 'ok', register() {} }, { name: name!, register() {} }], steps: [step('a', { sql: 'SELECT 1' })] }));
    one(ps, new RegExp(`^plugins\\[1\\] \\(plugin "${name}"\\): replaces the built-in plugin "${name}" but registers nothing for ${token.replace('.', '\\.')}`));
  }
  // "steps" replaced with nothing: the SQL step's kind is gone, and the message says why.
  const ps = lines(await loadProblems({ plugins: [{ name: 'steps', register() {} }], steps: [step('a', { sql: 'SELECT 1' })] }));
  one(ps, /^steps\[0\]\.kind \(step "a"\): unknown step kind "sql": plugins\[0\] replaces the built-in plugin "steps"/);
});

test('a contract of the wrong shape, a factory that throws, a broken step kind: config errors naming the plugin', async () => {
  const shape = lines(await loadProblems({ plugins: [{ name: 'journal', register: (c) => c.register(Tokens.StateStore, { useValue: 42 as never }) }], steps: [step('a', { sql: 'SELECT 1' })] }));
  one(shape, /^plugins\[0\] \(plugin "journal"\): registered for Tokens\.StateStore a value that is not one: it lacks init\(\)/);
  const factory = lines(
    await loadProblems({
      plugins: [{ name: 'lock', register: (c) => c.register(Tokens.Lock, { useFactory: () => { throw new Error('no lock today'); } }) }],
      steps: [step('a', { sql: 'SELECT 1' })],
    }),
  );
  one(factory, /^plugins\[0\] \(plugin "lock"\): could not provide Tokens\.Lock: no lock today$/);
  const kind = lines(await loadProblems({ plugins: [{ name: 'k', register: (c) => c.register(Tokens.StepKind, { useValue: { kind: 'x' } as never }) }], steps: [step('a', { sql: 'SELECT 1' })] }));
  one(kind, /step kind #\d+ registered for Tokens\.StepKind \("x"\) lacks prepare\(\)$/);
});

test('step kinds: a script kind or a run kind, never a script nothing runs; traits a step must respect', async () => {
  const run = async () => undefined;
  const kinds = [
    { kind: 'noscript', fields: {}, prepare: () => ({ source: 'x' }) },
    { kind: 'both', fields: {}, prepare: () => ({ source: 'x', script: 'SELECT 1' }), run },
    { kind: 'fixed', fields: {}, traits: { transaction: 'always', resumable: 'never', repeatable: false }, prepare: () => ({ source: 'x' }), run },
    { kind: 'batch', fields: {}, traits: { resumable: 'always' }, prepare: () => ({ source: 'x' }), run },
    { kind: 'odd', fields: {}, traits: { transaction: 'sometimes' }, prepare: () => ({ source: 'x' }), run },
  ];
  const ps = lines(
    await loadProblems({
      plugins: [{ name: 'kinds', register: (c) => kinds.forEach((k) => c.register(Tokens.StepKind, { useValue: k as never })) }],
      steps: [
        { kind: 'noscript', name: 'a', after: [] },
        { kind: 'both', name: 'b', after: [] },
        { kind: 'fixed', name: 'c', after: [], transaction: false },
        { kind: 'fixed', name: 'd', after: [], resumable: true },
        { kind: 'fixed', name: 'e', after: [], repeatable: { lastRun: () => 1 } },
        { kind: 'batch', name: 'f', after: [], resumable: false },
        step('g', { after: [], sql: 'SELECT 1', resumable: true } as never),
        step('h', { after: [], run, resumable: true, transaction: true }),
      ] as never,
    }),
  );
  one(ps, /^plugins: step kind #\d+ registered for Tokens\.StepKind \("odd"\) lacks traits\.transaction and traits\.resumable as "always", "never" or "optional"$/);
  one(ps, /^steps\[0\] \(step "a"\): step kind "noscript" has no run\(\) \(a script kind\) but its prepare\(\) returned no script: nothing would run it$/);
  one(ps, /^steps\[1\] \(step "b"\): step kind "both" has run\(\) and its prepare\(\) returned a script too/);
  one(ps, /^steps\[2\]\.transaction \(step "c"\): the "fixed" step kind always runs in a transaction: remove transaction: false$/);
  one(ps, /^steps\[3\]\.resumable \(step "d"\): the "fixed" step kind cannot be resumable/);
  one(ps, /^steps\[4\] \(step "e"\): the "fixed" step kind cannot be repeatable/);
  one(ps, /^steps\[5\]\.resumable \(step "f"\): the "batch" step kind is always resumable/);
  one(ps, /^steps\[6\]\.resumable \(step "g"\): the "sql" step kind cannot be resumable \(its SQL runs as a whole\)/);
  one(ps, /^steps\[7\]\.transaction \(step "h"\): a resumable step commits its own batches/);
});

/** The problems of loading `config` with `env`, as `key: message` lines. */
async function loadLines(config: UserConfig, env: Record<string, string> = {}): Promise<string[]> {
  try {
    await loadProject({ config, configFile: FILE, cwd: CWD, command: 'plan', env });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
}

test('lock.kind is checked against the registered lock kinds, with every other problem, named by where it came from', async () => {
  const url = { database: { url: 'postgres://u@127.0.0.1:5432/db' } };
  one(await loadLines({ ...base, ...url }, { ZSETUP_LOCK_KIND: 'mutex' }), /^ZSETUP_LOCK_KIND: unknown lock kind "mutex": the registered lock kinds are "advisory", "datadir", "lease"; add the plugin that provides it to plugins: \[\.\.\.\]$/);
  // Every problem at once: the lock kind beside a step's.
  const ps = await loadLines({ ...url, lock: { kind: 'advisroy' }, steps: [step('a', { sql: 'SELECT 1', transacton: true } as never)] });
  one(ps, /^lock\.kind: unknown lock kind "advisroy" \(did you mean "advisory"\?\)/);
  one(ps, /^steps\[0\]\.transacton \(step "a"\): unknown field/);
  assert.is(ps.length, 2, ps.join('\n'));
  // A kind that cannot serve the database says so at lock.kind (exit 2, nothing touched).
  one(await loadLines({ ...base, lock: { kind: 'advisory' } }), /^lock\.kind: the advisory lock cannot be used here: it needs a PostgreSQL server/);
  one(await loadLines({ ...base, ...url }, { ZSETUP_LOCK_KIND: 'datadir' }), /^ZSETUP_LOCK_KIND: the datadir lock cannot be used here: it locks the embedded PGlite's data dir/);
});

test('lock kinds: the default follows the database; a plugin registers one more (one registration) and lock.kind chooses it', async () => {
  const pglite = await loadProject({ config: base, configFile: FILE, cwd: CWD, command: 'plan', env: {} });
  assert.is(pglite.config.lock.kind, 'datadir');
  assert.is(pglite.container.resolve(Tokens.Lock).description, 'data-dir lock');
  const pg = await loadProject({ config: base, configFile: FILE, cwd: CWD, command: 'plan', env: { ZSETUP_DATABASE_URL: 'postgres://u@127.0.0.1:5432/db' } });
  assert.is(pg.config.lock.kind, 'advisory');
  assert.is(pg.container.resolve(Tokens.Lock).description, 'advisory lock');
  const mine = { description: 'my lock', acquire: async () => ({ owner: 'x', lost: new AbortController().signal, release: async () => {} }), holder: async () => undefined };
  const plugin: Plugin = { name: 'my-lock', register: (c) => c.register(Tokens.LockKind, { useValue: { name: 'mine', create: () => mine } }) };
  const p = await loadProject({ config: { ...base, plugins: [plugin], lock: { kind: 'mine' } }, configFile: FILE, cwd: CWD, command: 'plan', env: {} });
  assert.is(p.container.resolve(Tokens.Lock), mine);
  one(await loadLines({ ...base, plugins: [{ name: 'k', register: (c) => c.register(Tokens.LockKind, { useValue: { name: 'half' } as never }) }] }), /^plugins: lock kind #\d registered for Tokens\.LockKind \("half"\) lacks create\(\)$/);
  // A config plugin that replaces the built-in lock plugin needs no kind for the default.
  assert.equal(await loadLines({ ...base, plugins: [{ name: 'lock', register: (c) => c.register(Tokens.Lock, { useValue: mine }) }] }), []);
});

test('10,000 steps: chains in any declaration order and independent steps plan in well under 1 s beyond loading', async () => {
  const N = 10_000;
  const name = (i: number) => `s${String(i).padStart(5, '0')}`;
  const shapes: Record<string, () => UserConfig['steps']> = {
    // Each step runs after the one declared after it: the deepest chain, declared backwards.
    reverse: () => Array.from({ length: N }, (_, i) => step(name(i), { sql: 'SELECT 1', after: i === N - 1 ? [] : [name(i + 1)] })),
    shuffled: () => {
      const order = Array.from({ length: N }, (_, i) => i).sort((a, b) => ((a * 7919) % N) - ((b * 7919) % N));
      return order.map((i) => step(name(i), { sql: 'SELECT 1', after: i === 0 ? [] : [name(i - 1)] }));
    },
    independent: () => Array.from({ length: N }, (_, i) => step(name(i), { sql: 'SELECT 1', after: [] })),
  };
  for (const [shape, make] of Object.entries(shapes)) {
    const steps = make();
    const t0 = performance.now();
    const project = await loadProject({ config: { steps }, configFile: FILE, cwd: CWD, command: 'plan', env: {} });
    const plan = planSteps({ steps: project.steps.map((s) => s.plan), state: new Map(), checks: new Map() });
    const ms = performance.now() - t0;
    assert.is(plan.entries.length, N);
    assert.is(plan.pending, N);
    if (shape === 'reverse') assert.is(plan.entries[0]!.step, name(N - 1), 'the chain starts at its root');
    if (shape === 'shuffled') assert.is(plan.entries[0]!.step, name(0));
    // The bar is 1 s on the CI machine; the assertion leaves room for a loaded machine.
    assert.ok(ms < 4000, `${shape}: ${Math.round(ms)} ms`);
    console.log(`  10,000 steps (${shape}): validated, graphed and planned in ${Math.round(ms)} ms`);
  }
  // A cycle through all of them is found (iteratively) and printed in run order.
  const cyc = Array.from({ length: N }, (_, i) => step(name(i), { sql: 'SELECT 1', after: [name((i + 1) % N)] }));
  const ps = lines(await loadProblems({ steps: cyc }));
  one(ps, /dependency cycle: s00000 -> s09999 -> s09998/);
});

test.run();
