/**
 * Day one on an existing database, through the real CLI on PostgreSQL: the first apply
 * fails on "already exists" and says that baseline exists; baseline records steps as
 * applied without running them (refusing without a terminal unless --yes); a comment or a
 * reformatting is not drift; a real change is, shown with both checksums and a diff;
 * --allow-drift warns per step; accept records the reviewed change; a function step
 * without a version that changed is shown, not refused; a journal of an earlier zsetup
 * (raw-text checksums, no new columns) still reads as applied.
 */
import { createHash } from 'node:crypto';
import * as assert from 'uvu/assert';
import { HEADER, cli, dbEachSuite, dir, type DbCtx } from '../helpers.js';

const t = dbEachSuite('baseline and accept: adopting a database, reviewing a change');

const ORDERS = 'CREATE TABLE orders (\n  id int PRIMARY KEY,\n  customer int\n);\n';

function config(orders = ORDERS, fn = 'async (ctx) => { await ctx.exec("CREATE TABLE IF NOT EXISTS audit (id int)"); }'): string {
  return `${HEADER}export default defineConfig({ steps: [
  step('001_customers', { sql: file('sql/001_customers.sql') }),
  step('002_orders', { sql: file('sql/002_orders.sql') }),
  step('003_audit', { run: ${fn} }),
] });
`;
}

const files = (orders = ORDERS) => ({ 'zsetup.config.ts': config(), 'sql/001_customers.sql': 'CREATE TABLE customers (id int PRIMARY KEY);\n', 'sql/002_orders.sql': orders });

t('an existing database: apply fails on "already exists" and names baseline; baseline --until records without running; apply runs the rest', async (ctx: DbCtx) => {
  await ctx.db.query('CREATE TABLE customers (id int PRIMARY KEY)');
  const d = dir(ctx, files());
  const z = (args: string[]) => cli(args, { cwd: d.dir, url: ctx.db.url });
  const first = await z(['apply']);
  assert.is(first.code, 1, first.stdout + first.stderr);
  assert.match(first.stdout, /001_customers: the database already has what it creates: if it was set up before zsetup, `zsetup baseline --until 001_customers` records the steps up to it as applied/);

  // Not on a terminal: it will not record without --yes.
  const refused = await z(['baseline', '--until', '001_customers']);
  assert.is(refused.code, 2, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /pass --yes/);
  const unknown = await z(['baseline', '001_customer', '--yes']);
  assert.is(unknown.code, 2, unknown.stdout + unknown.stderr);
  assert.match(unknown.stderr, /zsetup: baseline: nothing recorded: no step "001_customer" in zsetup.config.ts \(did you mean "001_customers"\?\)/);

  const b = await z(['baseline', '--until', '001_customers', '--yes']);
  assert.is(b.code, 0, b.stdout + b.stderr);
  assert.match(b.stdout, /✓ 001_customers: recorded as applied \(baseline\), not run/);
  assert.match(b.stdout, /Recorded 1 step on /);
  assert.equal(await ctx.db.query(`SELECT step, event, via, sql_text IS NOT NULL AS sql FROM zsetup.journal WHERE via IS NOT NULL`), [{ step: '001_customers', event: 'done', via: 'baseline', sql: true }]);
  const again = await z(['baseline', '001_customers', '--yes']);
  assert.is(again.code, 2, 'already applied: nothing to baseline');
  assert.match(again.stderr, /step "001_customers" would not run \(skip: applied /);

  const a = await z(['apply']);
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.not.match(a.stdout, /✓ 001_customers/);
  assert.match(a.stdout, /✓ 002_orders/);
  const status = await z(['status', '--history', '--json']);
  assert.ok(status.json().some((e: { step: string; event: string; via?: string }) => e.step === '001_customers' && e.event === 'done' && e.via === 'baseline'));
  const table = await z(['status']);
  assert.match(table.stdout, /001_customers\s+done\s+.*recorded by baseline \(not run\)/);
});

t('a comment or a new layout is not drift; a change of meaning is, with both checksums and a diff; --allow-drift warns; accept records it', async (ctx: DbCtx) => {
  const d = dir(ctx, files());
  const z = (args: string[]) => cli(args, { cwd: d.dir, url: ctx.db.url });
  assert.is((await z(['apply'])).code, 0);

  d.write({ 'sql/002_orders.sql': '-- orders of a customer\nCREATE TABLE orders (id int PRIMARY KEY,   customer int);' });
  const p1 = await z(['plan', '--json']);
  assert.equal(p1.json().map((e: { step: string; action: string }) => [e.step, e.action]), [['001_customers', 'skip'], ['002_orders', 'skip'], ['003_audit', 'skip']]);

  d.write({ 'sql/002_orders.sql': 'CREATE TABLE orders (\n  id int PRIMARY KEY,\n  customer bigint\n);\n' });
  const p2 = await z(['plan']);
  assert.is(p2.code, 0, p2.stdout + p2.stderr);
  assert.match(p2.stdout, /002_orders\s+drift\s+changed since applied \S+ \(checksum [0-9a-f]{12} -> [0-9a-f]{12}\)/);
  assert.match(p2.stdout, /002_orders \(drift\) changed since it was applied: checksum [0-9a-f]{64} then, [0-9a-f]{64} now/);
  assert.match(p2.stdout, /@@ -1,4 \+1,4 @@\n\s+ CREATE TABLE orders \(\n\s+   id int PRIMARY KEY,\n\s+-  customer int\n\s+\+  customer bigint/);
  assert.match(p2.stdout, /`zsetup accept 002_orders` records the new content/);
  const pj = (await z(['plan', '--json'])).json().find((e: { step: string }) => e.step === '002_orders');
  assert.match(pj.change.diff, /-  customer int\n\+  customer bigint/);

  const refused = await z(['apply']);
  assert.is(refused.code, 4, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /`zsetup accept 002_orders`/);
  const allowed = await z(['apply', '--allow-drift']);
  assert.is(allowed.code, 0, allowed.stdout + allowed.stderr);
  assert.match(allowed.stdout, /! 002_orders: changed since applied .*: not run, left as applied; after review, `zsetup accept 002_orders`/);

  const unchanged = await z(['accept', '001_customers']);
  assert.is(unchanged.code, 2);
  assert.match(unchanged.stderr, /zsetup: accept: nothing accepted: step "001_customers" has not changed since it was applied .*\nhint: steps that changed: 002_orders/);
  assert.not.match(unchanged.stderr, /problem in the config/);
  const acc = await z(['accept', '002_orders']);
  assert.is(acc.code, 0, acc.stdout + acc.stderr);
  assert.match(acc.stdout, /✓ 002_orders: recorded with its new content \(accept\), not run \(checksum [0-9a-f]{12} -> [0-9a-f]{12}\)/);
  const p3 = await z(['plan', '--exit-code']);
  assert.is(p3.code, 0, p3.stdout + p3.stderr);
  assert.equal(await ctx.db.query(`SELECT data_type FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'customer'`), [{ data_type: 'integer' }], 'accept runs nothing');
});

t('a function step without version: a changed source is shown as "changed (no version)", not refused', async (ctx: DbCtx) => {
  const d = dir(ctx, files());
  const z = (args: string[]) => cli(args, { cwd: d.dir, url: ctx.db.url });
  assert.is((await z(['apply'])).code, 0);
  d.write({ 'zsetup.config.ts': config(ORDERS, 'async (ctx) => {\n    // reformatted\n    await ctx.exec("CREATE TABLE IF NOT EXISTS audit (id int)");\n  }') });
  const p = await z(['plan', '--json', '--exit-code']);
  assert.is(p.code, 0, p.stdout + p.stderr);
  const e = p.json().find((x: { step: string }) => x.step === '003_audit');
  assert.is(e.action, 'skip');
  assert.match(e.reason, /^changed \(no version\): its code differs from what was applied/);
  assert.is((await z(['apply'])).code, 0);
});

t('a journal written by an earlier zsetup (checksum of the raw text, no via/sql_text columns) reads as applied, and takes records again', async (ctx: DbCtx) => {
  const d = dir(ctx, files());
  const z = (args: string[]) => cli(args, { cwd: d.dir, url: ctx.db.url });
  assert.is((await z(['apply'])).code, 0);
  // As the earlier zsetup left it: the checksum of the text itself, and the old table.
  const raw = createHash('sha256').update(ORDERS.replace(/\n+$/, '')).digest('hex');
  await ctx.db.query(`ALTER TABLE zsetup.journal DROP COLUMN via, DROP COLUMN sql_text`);
  await ctx.db.query(`UPDATE zsetup.journal SET checksum = $1 WHERE step = '002_orders'`, [raw]);
  const p = await z(['plan', '--json', '--exit-code']);
  assert.is(p.code, 0, p.stdout + p.stderr);
  assert.match(p.json().find((e: { step: string }) => e.step === '002_orders').reason, /^applied /);
  d.write({ 'sql/002_orders.sql': ORDERS.replace('customer int', 'customer bigint') });
  const drift = await z(['plan', '--json']);
  const e = drift.json().find((x: { step: string }) => x.step === '002_orders');
  assert.is(e.action, 'drift');
  assert.match(e.change.noDiff, /the SQL it ran was not kept/);
  assert.is((await z(['accept', '002_orders'])).code, 0);
  assert.equal(await ctx.db.query(`SELECT via FROM zsetup.journal WHERE step = '002_orders' ORDER BY id DESC LIMIT 1`), [{ via: 'accept' }], 'the columns were added back');
});

t.run();
