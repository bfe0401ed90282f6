/**
 * The CLI commands on PostgreSQL: plan (table, --json, --format json|mermaid, --exit-code),
 * apply, status (--json, --history --json), --help, --version, usage errors (exit 2), and
 * repeatable steps driven by check(lastRun). Exit codes 3 and 4: exit-codes.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cli, createDb, scratch, HEADER, type TestDb } from '../helpers.js';
import { parseFlowchart } from '../mermaid.js';

type Scratch = ReturnType<typeof scratch>;
interface Ctx {
  db: TestDb;
  dir: Scratch;
}

const t = suite<Ctx>('cli commands');

// Three steps in a line; the third is repeatable and re-runs when REP_V changes.
const CONFIG = `${HEADER}const v = process.env.REP_V ?? '1';
export default defineConfig({ steps: [
  step('01_t', { sql: 'CREATE TABLE t (id int, what text)', description: 'the table' }),
  step('02_i', { sql: "INSERT INTO t VALUES (1, 'once')" }),
  repeatable('03_r', {
    lastRun: () => ({ v }),
    check: (last: any) => last?.v !== v,
    sql: "INSERT INTO t VALUES (3, 'repeatable')",
  }),
] });
`;

t.before(async (ctx) => {
  ctx.db = await createDb();
  ctx.dir = scratch({ 'zsetup.config.ts': CONFIG });
});
t.after(async (ctx) => {
  await ctx.db.drop();
  ctx.dir.remove();
});

const z = (ctx: Ctx, args: string[], env?: Record<string, string>) => cli(args, { cwd: ctx.dir.dir, url: ctx.db.url, env });
const rows = async (db: TestDb, sql: string) => db.query<Record<string, string>>(sql);

t('--version, --help on every command, and a usage error exits 2', async (ctx) => {
  const v = await z(ctx, ['--version']);
  assert.is(v.code, 0, v.stderr);
  assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+$/);
  const top = await z(ctx, ['--help']);
  assert.is(top.code, 0, top.stderr);
  for (const c of ['plan', 'apply', 'status']) assert.match(top.stdout, new RegExp(`\\b${c}\\b`));
  assert.match(top.stdout, /Exit codes/);
  const flags: Record<string, RegExp[]> = {
    plan: [/--exit-code/, /--json/, /--config/, /--format <format>[^]*"text", "json", "mermaid"/],
    apply: [/--concurrency/, /--allow-drift/, /--lock-timeout/, /--json/, /--format <format>[^]*"text", "json"\)/],
    status: [/--history/, /--json/, /--format/],
  };
  for (const [c, res] of Object.entries(flags)) {
    const h = await z(ctx, [c, '--help']);
    assert.is(h.code, 0, `${c} --help: ${h.stderr}`);
    assert.match(h.stdout, new RegExp(`Usage: zsetup ${c}`));
    for (const re of res) assert.match(h.stdout, re, `${c} --help mentions ${re}`);
  }
  const bogus = await z(ctx, ['apply', '--bogus']);
  assert.is(bogus.code, 2, bogus.stdout + bogus.stderr);
  assert.match(bogus.stderr, /unknown option '--bogus'/);
  const unknown = await z(ctx, ['aply']);
  assert.is(unknown.code, 2, unknown.stdout + unknown.stderr);
  assert.match(unknown.stderr, /apply/, 'suggests the right command');
  // --format: only what the command can write, and --json is --format json.
  for (const args of [['apply', '--format', 'mermaid'], ['status', '--format', 'mermaid'], ['cleanup', '--format', 'mermaid'], ['plan', '--format', 'xml']]) {
    const r = await z(ctx, args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`'--format <format>' argument '${args[2]}' is invalid`));
    assert.is(r.stdout, '');
  }
  const both = await z(ctx, ['plan', '--json', '--format', 'text']);
  assert.is(both.code, 2, both.stderr);
  assert.match(both.stderr, /--json is --format json/);
  const badDuration = await z(ctx, ['apply', '--lock-timeout', 'soon']);
  assert.is(badDuration.code, 2, badDuration.stderr);
  assert.match(badDuration.stderr, /--lock-timeout/);
  const [schema] = await rows(ctx.db, `SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'zsetup'`);
  assert.is(schema!.n, '0', 'usage errors touch nothing');
});

t('plan and status before anything ran: table, --json, --exit-code 10; write nothing', async (ctx) => {
  // The table, and (--exit-code) 10: work is pending.
  const p = await z(ctx, ['plan', '--exit-code']);
  assert.is(p.code, 10, p.stderr);
  assert.match(p.stdout, /3 to run, 0 up to date/);
  assert.match(p.stdout, /STEP\s+ACTION\s+REASON/);
  assert.match(p.stdout, /01_t\s+run\s+never applied/);
  assert.match(p.stdout, /03_r\s+run\s+never applied/);

  const j = await z(ctx, ['plan', '--json']);
  assert.is(j.code, 0, j.stderr);
  const entries = j.json();
  assert.equal(
    entries.map((e) => [e.step, e.action, e.reason]),
    [
      ['01_t', 'run', 'never applied'],
      ['02_i', 'run', 'never applied'],
      ['03_r', 'run', 'never applied'],
    ],
  );
  assert.equal(entries[1].after, ['01_t']);
  assert.is(entries[2].repeatable, true);
  const f = await z(ctx, ['plan', '--format', 'json']);
  assert.is(f.stdout, j.stdout, '--json is --format json');

  // The dependency graph, as Mermaid's own parser reads it.
  const m = await z(ctx, ['plan', '--format', 'mermaid', '--exit-code']);
  assert.is(m.code, 10, m.stderr);
  const chart = await parseFlowchart(m.stdout);
  assert.equal([...chart.nodes].map(([id, n]) => [id, n.label, n.classes]), [
    ['s0', '01_t<br>run', ['run']],
    ['s1', '02_i<br>run', ['run']],
    ['s2', '03_r<br>run', ['run']],
  ]);
  assert.equal(chart.edges, [
    ['s0', 's1'],
    ['s1', 's2'],
  ]);

  const s = await z(ctx, ['status', '--json']);
  assert.is(s.code, 0, s.stderr);
  assert.equal(s.json().map((x) => [x.step, x.state]), [
    ['01_t', 'pending'],
    ['02_i', 'pending'],
    ['03_r', 'pending'],
  ]);
  const h = await z(ctx, ['status', '--history', '--json']);
  assert.is(h.code, 0, h.stderr);
  assert.equal(h.json(), []);
  const [schema] = await rows(ctx.db, `SELECT count(*) AS n FROM pg_namespace WHERE nspname = 'zsetup'`);
  assert.is(schema!.n, '0', 'plan and status never write, not even the state schema');
});

t('apply, then plan --exit-code 0, status and status --json', async (ctx) => {
  const a = await z(ctx, ['apply']);
  assert.is(a.code, 0, a.stderr);
  assert.match(a.stdout, /✓ 01_t/);
  assert.match(a.stdout, /Done: 3 applied/);
  assert.equal(await rows(ctx.db, 'SELECT id, what FROM t ORDER BY id'), [
    { id: 1, what: 'once' },
    { id: 3, what: 'repeatable' },
  ] as any);

  const again = await z(ctx, ['apply']);
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stdout, /up to date/);

  const e = await z(ctx, ['plan', '--exit-code']);
  assert.is(e.code, 0, e.stdout + e.stderr);
  assert.match(e.stdout, /0 to run, 3 up to date/);
  assert.match(e.stdout, /03_r\s+skip\s+repeatable: check\(lastRun\) returned false/);

  const s = await z(ctx, ['status']);
  assert.is(s.code, 0, s.stderr);
  assert.match(s.stdout, /01_t\s+done/);
  assert.match(s.stdout, /03_r\s+done/);

  const sj = await z(ctx, ['status', '--json']);
  assert.is(sj.code, 0, sj.stderr);
  const st = sj.json();
  assert.equal(
    st.map((x) => [x.step, x.state, x.declared]),
    [
      ['01_t', 'done', true],
      ['02_i', 'done', true],
      ['03_r', 'done', true],
    ],
  );
  for (const x of st) {
    assert.type(x.owner, 'string');
    assert.ok(!Number.isNaN(Date.parse(x.at)), x.at);
  }
});

t('repeatable: check(lastRun) decides; plan says why', async (ctx) => {
  const p = await z(ctx, ['plan', '--json'], { REP_V: '2' });
  assert.is(p.code, 0, p.stderr);
  const r = p.json().find((e) => e.step === '03_r');
  assert.is(r.action, 'rerun');
  assert.is(r.reason, 'repeatable: check(lastRun) returned true');
  const text = await z(ctx, ['plan', '--exit-code'], { REP_V: '2' });
  assert.is(text.code, 10);
  assert.match(text.stdout, /03_r\s+rerun\s+repeatable: check\(lastRun\) returned true/);

  const a = await z(ctx, ['apply'], { REP_V: '2' });
  assert.is(a.code, 0, a.stderr);
  assert.match(a.stdout, /✓ 03_r/);
  assert.not.match(a.stdout, /✓ 01_t|✓ 02_i/);
  const [n] = await rows(ctx.db, `SELECT count(*) AS n FROM t WHERE id = 3`);
  assert.is(n!.n, '2');

  // Same value again: check returns false, nothing runs.
  const b = await z(ctx, ['apply'], { REP_V: '2' });
  assert.is(b.code, 0, b.stderr);
  assert.match(b.stdout, /up to date/);
  const [m] = await rows(ctx.db, `SELECT count(*) AS n FROM t WHERE id = 3`);
  assert.is(m!.n, '2');
  // The recorded lastRun is what check receives next time.
  const [last] = await rows(ctx.db, `SELECT last_run FROM zsetup.journal WHERE step = '03_r' AND event = 'done' ORDER BY id DESC LIMIT 1`);
  assert.equal(last!.last_run, { v: '2' } as any);
});

t('status --history --json: one object per recorded event', async (ctx) => {
  const h = await z(ctx, ['status', '--history', '--json']);
  assert.is(h.code, 0, h.stderr);
  const events = h.json();
  const journal = await rows(ctx.db, 'SELECT step, event, owner FROM zsetup.journal ORDER BY id');
  assert.is(events.length, journal.length);
  assert.equal(
    events.map((e) => [e.step, e.event, e.owner]),
    journal.map((r) => [r.step, r.event, r.owner]),
  );
  for (const e of events) {
    assert.ok(!Number.isNaN(Date.parse(e.at)), `at: ${e.at}`);
    assert.type(e.owner, 'string');
  }
  // 01_t: started, done; 03_r ran twice.
  assert.equal(
    events.filter((e) => e.step === '03_r').map((e) => e.event),
    ['started', 'done', 'started', 'done'],
  );
  const text = await z(ctx, ['status', '--history']);
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /AT\s+STEP\s+EVENT\s+OWNER/);
  assert.is(text.stdout.split('\n').filter((l) => /\b(started|done)\b/.test(l)).length, events.length);
});

t.run();
