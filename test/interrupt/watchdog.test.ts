/**
 * Every stop ends the process, also when the step does not cooperate:
 * - a step busy in synchronous code (`while (true) {}`) blocks Node's signal handlers and
 *   timers on the main thread; the watchdog thread still ends the process at the cleanup
 *   deadline after SIGTERM, or at `--deadline`, as the signal would (SIGTERM); the next
 *   apply recovers the step;
 * - a step whose promise never settles is abandoned at the cleanup deadline (or the
 *   deadline) and recorded interrupted; the run exits 143.
 */
import * as assert from 'uvu/assert';
import { cli, dbEachSuite, dir, startCli, HEADER } from '../helpers.js';
import { journal, killTimed, waitFor, exitTime } from './util.js';

const t = dbEachSuite('watchdog');

const CONFIG = `${HEADER}export default defineConfig({
  apply: { cleanupDeadline: '2s' },
  steps: [
    step('01_stuck', { run: async (ctx) => {
      if (process.env.STUCK === 'busy') { ctx.log('entering a busy loop'); while (true) {} }
      if (process.env.STUCK === 'never') { ctx.log('waiting forever'); await new Promise(() => {}); }
      await ctx.db.raw('CREATE TABLE done_t (id int)');
    } }),
    step('02_after', { sql: 'SELECT 1' }),
  ],
});
`;

t('a step busy in synchronous code: SIGTERM ends the process at the cleanup deadline; the next apply recovers it', async (ctx) => {
  const d = dir(ctx, { 'zsetup.config.ts': CONFIG });
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url, env: { STUCK: 'busy' } });
  await waitFor(run.child, /entering a busy loop/);
  const { r, ms } = await killTimed(run, 'SIGTERM');
  // SIGTERM raised once the watchdog removed main's listeners; SIGKILL 0.3 s later if the
  // inspector could not get into the busy thread in time (seen at a load average of 12).
  assert.ok(r.signal === 'SIGTERM' || r.signal === 'SIGKILL', `ended by a signal: ${r.code} ${r.signal} ${r.stdout}${r.stderr}`);
  assert.ok(ms >= 1800, `ended by the watchdog at the cleanup deadline, not before: ${Math.round(ms)} ms`);
  assert.ok(ms < 8000, `ended within the cleanup deadline (2 s, plus room for a loaded machine): ${Math.round(ms)} ms`);
  assert.match(r.stderr, /cleanup after SIGTERM took longer than 2 s.*ending the process now \(SIGTERM\)/);
  assert.not.match(r.stdout + r.stderr, /^\s+at /m);
  const next = await cli(['apply'], { cwd: d.dir, url: ctx.db.url });
  assert.is(next.code, 0, next.stdout + next.stderr);
  assert.match(next.stdout, /01_stuck: left started by .*recorded interrupted/);
  const j = await journal(ctx.db);
  assert.equal(j.filter((x) => x.step === '01_stuck').map((x) => x.event), ['started', 'interrupted', 'started', 'done']);
});

// --deadline counts from the process start, and a loaded machine can take seconds to start
// a process: 10 s leaves the step time to start before the stop (at 8 s).
const DEADLINE_S = 10;

t('a step busy in synchronous code under --deadline: the process ends at the deadline', async (ctx) => {
  const d = dir(ctx, { 'zsetup.config.ts': CONFIG });
  const run = startCli(['apply', '--deadline', `${DEADLINE_S}s`], { cwd: d.dir, url: ctx.db.url, env: { STUCK: 'busy' } });
  const started = performance.now();
  await waitFor(run.child, /entering a busy loop/);
  const r = await run.done;
  const ms = (await exitTime(run.child)) - started;
  assert.is(r.signal, 'SIGTERM', `${r.code} ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /the deadline has passed and the run has not ended/);
  assert.ok(ms < DEADLINE_S * 1000 + 4000, `${Math.round(ms)} ms after the start`);
});

t('a step whose promise never settles: abandoned at the cleanup deadline after SIGTERM, recorded interrupted, exit 143', async (ctx) => {
  const d = dir(ctx, { 'zsetup.config.ts': CONFIG });
  const run = startCli(['apply'], { cwd: d.dir, url: ctx.db.url, env: { STUCK: 'never' } });
  await waitFor(run.child, /waiting forever/);
  const { r, ms } = await killTimed(run, 'SIGTERM');
  assert.is(r.code, 143, r.stdout + r.stderr);
  assert.ok(ms < 2000 + 4000, `${Math.round(ms)} ms`);
  const last = (await journal(ctx.db)).filter((x) => x.step === '01_stuck').at(-1)!;
  assert.is(last.event, 'interrupted');
  assert.match(last.error ?? '', /did not stop within the cleanup deadline/);
});

t('a step whose promise never settles under --deadline: abandoned before the deadline, exit 143', async (ctx) => {
  const d = dir(ctx, { 'zsetup.config.ts': CONFIG });
  const run = startCli(['apply', '--deadline', `${DEADLINE_S}s`, '--json'], { cwd: d.dir, url: ctx.db.url, env: { STUCK: 'never' } });
  const started = performance.now();
  await waitFor(run.child, /waiting forever/);
  const r = await run.done;
  const ms = (await exitTime(run.child)) - started;
  assert.ok(ms < DEADLINE_S * 1000 + 4000, `${Math.round(ms)} ms`);
  // Abandoned and recorded by the run itself (exit 143); on a machine too loaded to finish
  // that by the deadline, the watchdog ends it as SIGTERM would and the next apply recovers.
  if (r.signal === 'SIGTERM') {
    assert.match(r.stderr, /the deadline has passed and the run has not ended/);
    return;
  }
  assert.is(r.code, 143, r.stdout + r.stderr);
  const events = r.json();
  assert.ok(events.some((e) => e.type === 'step.interrupted' && e.step === '01_stuck'));
  assert.is(events.at(-1).status, 'interrupted');
  const last = (await journal(ctx.db)).filter((x) => x.step === '01_stuck').at(-1)!;
  assert.is(last.event, 'interrupted');
});

t.run();
