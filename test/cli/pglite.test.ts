/**
 * The embedded PGlite (no database URL): plan / apply / status in a scratch folder, and
 * two processes on one data dir never open it together: the second waits (naming the
 * holder) and then finds nothing to do, or gives up with exit 3 after --lock-timeout.
 * PGlite's first start of a data dir takes seconds: few tests, one data dir.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, scratch, startCli, HEADER } from '../helpers.js';
import { waitFor } from '../interrupt/util.js';

const t = suite<{ dir: ReturnType<typeof scratch> }>('PGlite');

const BASE = `  step('01_t', { sql: 'CREATE TABLE t (id int)' }),
  step('02_i', { sql: 'INSERT INTO t VALUES (2)' }),`;

t.before((ctx) => {
  ctx.dir = scratch({ 'zsetup.config.ts': `${HEADER}export default defineConfig({ steps: [\n${BASE}\n] });` });
});
t.after((ctx) => {
  ctx.dir.remove();
});

const TIMEOUT = 60_000;
const run = (dir: string, args: string[]) => cli(args, { cwd: dir, timeoutMs: TIMEOUT });

t('plan, apply, status work without a database URL', async ({ dir }) => {
  const p = await run(dir.dir, ['plan', '--exit-code']);
  assert.is(p.code, 10, p.stdout + p.stderr);
  assert.match(p.stdout, /Plan for pglite:\.zsetup\/pglite: 2 to run/);
  const a = await run(dir.dir, ['apply']);
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.match(a.stdout, /✓ 01_t/);
  assert.match(a.stdout, /✓ 02_i/);
  assert.ok(existsSync(join(dir.dir, '.zsetup/pglite')), 'the data dir is beside the config');
  assert.not.ok(existsSync(join(dir.dir, '.zsetup/pglite.lock')), 'the data-dir lock is released on exit');
  const s = await run(dir.dir, ['status', '--json']);
  assert.is(s.code, 0, s.stdout + s.stderr);
  // Read by another process: what apply recorded is on disk (plan --exit-code 0 on a done
  // state: test/cli/commands.test.ts; nothing to do on PGlite: the next test's patient apply).
  assert.equal(
    s.json().map((x) => [x.step, x.state]),
    [
      ['01_t', 'done'],
      ['02_i', 'done'],
    ],
  );
});

t('two applies on one data dir: the second waits or times out naming the holder', async ({ dir }) => {
  // 03_slow holds the data dir (its apply runs it) until the test creates the release file.
  const release = join(dir.dir, 'release');
  dir.write({
    'zsetup.config.ts': `${HEADER}import { existsSync } from 'node:fs';
export default defineConfig({ steps: [
${BASE}
  step('03_slow', { run: async (ctx) => {
    for (const t0 = Date.now(); !existsSync(${JSON.stringify(release)}); await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() - t0 > 120_000) throw new Error('never released');
    }
    await ctx.db.raw('INSERT INTO t VALUES (3)');
  } }),
] });`,
  });
  const first = startCli(['apply', '--json'], { cwd: dir.dir, timeoutMs: TIMEOUT });
  // Wait until the first is inside the slow step (it holds the data dir by then).
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the first apply never started 03_slow: ${out}`)), 60_000);
    first.child.stdout!.on('data', (d) => {
      out += d;
      if (/"type":"step.started","step":"03_slow"/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    first.done.then((r) => reject(new Error(`the first apply ended early: ${r.code} ${r.stdout} ${r.stderr}`)));
  });
  const pid = first.child.pid!;
  const impatient = startCli(['apply', '--lock-timeout', '1s'], { cwd: dir.dir, timeoutMs: TIMEOUT }).done;
  const patientRun = startCli(['apply'], { cwd: dir.dir, timeoutMs: TIMEOUT });
  const patientWaits = waitFor(patientRun.child, /waiting for lock held by/, 60_000);
  patientWaits.catch(() => undefined); // awaited below

  const b = await impatient;
  assert.is(b.code, 3, b.stdout + b.stderr);
  assert.match(b.stderr, /could not acquire the data-dir lock/);
  assert.match(b.stderr, new RegExp(`:${pid}:`), `names the holder (pid ${pid}): ${b.stderr}`);
  assert.not.match(b.stdout + b.stderr, /^\s+at .+:\d+:\d+\)?$/m);

  // The patient one waits (it says so); then the first may finish.
  await patientWaits;
  writeFileSync(release, '');
  const patient = patientRun.done;
  const [a, c] = await Promise.all([first.done, patient]);
  assert.is(a.code, 0, a.stdout + a.stderr);
  assert.is(a.json().find((o) => o.type === 'run.finished')?.applied, 1, 'stdout of --json is only JSON lines');
  assert.is(c.code, 0, c.stdout + c.stderr);
  assert.match(c.stderr, /waiting for lock held by [^\n]*data-dir lock/);
  assert.match(c.stderr, new RegExp(`:${pid}:`), `the waiting line names the holder (pid ${pid}): ${c.stderr}`);
  assert.match(c.stdout, /Everything is up to date/, c.stdout);

  const h = await run(dir.dir, ['status', '--history', '--json']);
  assert.is(h.code, 0, h.stdout + h.stderr);
  const slow = h.json().filter((e) => e.step === '03_slow');
  assert.equal(slow.map((e) => e.event), ['started', 'done'], 'the slow step ran once');
  assert.ok(slow.every((e) => e.owner.includes(`:${pid}:`)));
});

t.run();
