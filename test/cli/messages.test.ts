/**
 * What a run says, through the real CLI on PostgreSQL: its first line names the target and
 * the lock; plan and status tell a step a live run is executing ("running in <owner>") from
 * one left by a run that is gone; a stopped step's reason is written once; colour follows
 * FORCE_COLOR and NO_COLOR.
 */
import * as assert from 'uvu/assert';
import { HEADER, cli, dbEachSuite, dir, startCli, type DbCtx } from '../helpers.js';
import { holdGate, until } from '../interrupt/util.js';
import { useColour } from '../../src/cli/render/text.js';

const t = dbEachSuite('what a run says');
const GATE = 515151;

const config = `${HEADER}export default defineConfig({ steps: [
  step('01_wait', { transaction: false, sql: 'SELECT pg_advisory_lock(${GATE}); SELECT pg_advisory_unlock(${GATE})' }),
  step('02_after', { sql: 'SELECT 1' }),
] });\n`;

t('the first line names target and lock; plan and status say "running in <owner>" for a live run, "left unfinished" once it is gone; the stop reason once', async (ctx: DbCtx) => {
  const d = dir(ctx, { 'zsetup.config.ts': config });
  const z = (args: string[]) => cli(args, { cwd: d.dir, url: ctx.db.url });
  const gate = await holdGate(ctx.db, GATE);
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
  try {
    await gate.waiting('01_wait to wait at the gate');
    const plan = await z(['plan', '--json']);
    const e = plan.json().find((x: { step: string }) => x.step === '01_wait');
    assert.match(e.reason, /^running in \S+ since \S+ \(a live run holds the lock; apply waits for it\)$/);
    const status = await z(['status']);
    assert.match(status.stdout, /01_wait\s+started\s+\S+\s+(\S+)\s+running in \1/);
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.is(r.code, 130, r.stdout + r.stderr);
    assert.match(r.stdout.split('\n')[0]!, /^zsetup apply on postgres:\/\/\S+, holding the advisory lock$/);
  } finally {
    await gate.release();
  }
  const [rec] = await ctx.db.query<{ error: string }>(`SELECT error FROM zsetup.journal WHERE step = '01_wait' AND event = 'interrupted'`);
  assert.match(rec!.error, /^SIGINT received: canceling statement due to user request/);
  // A run that is gone (its started record left, no lock held): left unfinished.
  await ctx.db.query(`INSERT INTO zsetup.journal (step, event, owner, checksum) SELECT step, 'started', 'gone-host:1:abc', checksum FROM zsetup.journal WHERE step = '01_wait' ORDER BY id DESC LIMIT 1`);
  const status = await z(['status']);
  assert.match(status.stdout, /01_wait\s+started\s+\S+\s+gone-host:1:abc\s+left unfinished \(its run is gone\)/);
  const plan = await z(['plan', '--json']);
  assert.match(plan.json().find((x: { step: string }) => x.step === '01_wait').reason, /^started by gone-host:1:abc at \S+ and left unfinished \(that run is gone/);
});

t('a step that stops by throwing the stop itself: its record says the reason once ("SIGINT received", not twice)', async (ctx: DbCtx) => {
  const d = dir(ctx, {
    'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [step('01_poll', { run: async (ctx) => {
  while (!ctx.signal.aborted) await new Promise((r) => setTimeout(r, 20));
  throw ctx.signal.reason;
} })] });\n`,
  });
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url });
  await until(async () => (await ctx.db.query(`SELECT 1 FROM zsetup.journal WHERE step = '01_poll' AND event = 'started'`).catch(() => [])).length > 0, 60_000, '01_poll to start');
  run.child.kill('SIGINT');
  const r = await run.done;
  assert.is(r.code, 130, r.stdout + r.stderr);
  const [rec] = await ctx.db.query<{ error: string }>(`SELECT error FROM zsetup.journal WHERE step = '01_poll' AND event = 'interrupted'`);
  assert.ok(rec, `no interrupted record:\n${r.stdout}${r.stderr}\n${JSON.stringify(await ctx.db.query('SELECT step, event, error FROM zsetup.journal ORDER BY id'))}`);
  assert.is(rec!.error, 'SIGINT received');
  const status = await cli(['status'], { cwd: d.dir, url: ctx.db.url });
  assert.not.match(status.stdout, /SIGINT received: SIGINT received/);
});

t('colour: FORCE_COLOR decides when set, else NO_COLOR, else a terminal', async (ctx: DbCtx) => {
  assert.is(useColour({}, true), true);
  assert.is(useColour({}, false), false);
  assert.is(useColour({ NO_COLOR: '1' }, true), false);
  assert.is(useColour({ NO_COLOR: '' }, true), true, 'an empty NO_COLOR does not count');
  assert.is(useColour({ FORCE_COLOR: '1' }, false), true);
  assert.is(useColour({ FORCE_COLOR: '0' }, true), false);
  assert.is(useColour({ FORCE_COLOR: '1', NO_COLOR: '1' }, false), true, 'FORCE_COLOR wins, as in Node');
  assert.is(useColour({ TERM: 'dumb' }, true), false);
  const d = dir(ctx, { 'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [step('01', { sql: 'SELECT 1' })] });\n` });
  const coloured = await cli(['apply'], { cwd: d.dir, url: ctx.db.url, env: { FORCE_COLOR: '1' } });
  assert.match(coloured.stdout, /\u001b\[32m✓\u001b\[39m 01/);
  await ctx.db.query('DROP SCHEMA zsetup CASCADE');
  const plain = await cli(['apply'], { cwd: d.dir, url: ctx.db.url, env: { NO_COLOR: '1' } });
  assert.not.match(plain.stdout, /\u001b\[/);
});

t.run();
