/**
 * What the move reports while it runs (issue 12, part 4): the copy's pages, rows and rate, and
 * each index build's phase from the server (pg_stat_progress_create_index, found by the build
 * session's pid: a plain CREATE INDEX shows no index there until it is done), and the sort
 * memory each build is given. The move is called directly with a report every few milliseconds
 * (the step's own is every 5 s), so that the builds of a small table are seen while they run.
 */
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { cli, dbEachSuite, dir, type DbCtx } from '../helpers.js';
import { moveEvents, sortMemory } from '../../plugins/events2/index.js';
import { directStep, legacy, moveConfig } from './util.js';

const pure = suite('events2: the sort memory of the index builds');

pure('at least 8 MB; above, the least that merges the sorted runs in one pass', () => {
  assert.is(sortMemory(0), '8MB');
  // 2,000,000 events: a 564 MB copy.
  assert.is(sortMemory(564 * 2 ** 20), '9MB');
  // 100 GiB: sqrt(50 GiB x 264 KiB) = 114.9 MiB.
  assert.is(sortMemory(100 * 2 ** 30), '115MB');
});

pure.run();

const t = dbEachSuite('events2: progress of the move');

t('the copy logs pages and rows, each index build its phase and count, with the memory it sorts in', async (ctx: DbCtx) => {
  await legacy(ctx.db, 40_000);
  const d = directStep(ctx.db);
  try {
    const r = await moveEvents(d.step, { unitPages: 8, reportMs: 5, buildMemory: '2MB' });
    assert.ok(r.rows !== undefined && r.rows > 0, JSON.stringify(r));
    const logs = d.logs.join('\n');
    assert.match(logs, /building events2_pkey, es_active_instances, es_wm, es_projection on the copied events, at once \(maintenance_work_mem 2MB each\)/);
    assert.match(logs, /^copy: [\d,]+\/[\d,]+ pages \(\d+%\), [\d,]+ rows in this run( of about [\d,]+)?, [\d,]+ rows\/s, ETA /m, logs);
    // At least one report named a build by its index and said what the server does.
    const builds = d.logs.filter((l) => l.startsWith('indexes after '));
    assert.ok(builds.length > 0, `no report of the builds in:\n${logs}`);
    assert.match(builds.join('\n'), /(events2_pkey|es_active_instances|es_wm|es_projection): building index: [a-z ]+/);
    assert.not.match(builds.join('\n'), /\b\d+: building/, 'a build named by its pid, not its index');
  } finally {
    await d.end();
  }
});

t('without buildMemory, the builds sort in sortMemory() of the copy', async (ctx: DbCtx) => {
  await legacy(ctx.db, 2_000);
  const d = directStep(ctx.db);
  try {
    await moveEvents(d.step, { unitPages: 8 });
    assert.match(d.logs.join('\n'), /at once \(maintenance_work_mem 8MB each\)/);
  } finally {
    await d.end();
  }
});

t('a buildMemory that is no PostgreSQL size is refused before anything runs, naming the file, the step and the key', async (ctx: DbCtx) => {
  for (const bad of ["'8 MB'", "'8mb'", "'512kB'", "'3000GB'", '64']) {
    const d = dir(ctx, { 'zsetup.config.ts': moveConfig(`{ buildMemory: ${bad} }`) });
    const r = await cli(['plan'], { cwd: d.dir, url: ctx.db.url });
    assert.is(r.code, 2, `${bad}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /zsetup\.config\.ts: steps\[0\]\.buildMemory \(step "14_events_push"\): expected a PostgreSQL memory size of at least 1MB and at most 2147483647kB such as '64MB'/s, r.stderr);
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const d = dir(ctx, { 'zsetup.config.ts': moveConfig(`{ buildMemory: '1GB' }`) });
  const r = await cli(['plan'], { cwd: d.dir, url: ctx.db.url });
  assert.is(r.code, 0, r.stdout + r.stderr);
});

t.run();
