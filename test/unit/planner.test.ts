/**
 * The planner, in process: from declared steps, recorded state and the results of
 * repeatable checks to actions and the reasons people read in `plan`. The same function
 * decides for `plan` and `apply`; the CLI tests check that the real state reaches it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planSteps, stepsNeedingCheck, stamp, WORK_ACTIONS, type CheckResult, type PlanStep } from '../../src/plan/planner.js';
import type { Checkpoint, RecordedEvent, StepEventKind, StepState } from '../../src/state/store.js';

const AT = new Date('2026-11-20T10:00:42.123Z');
const EARLIER = new Date('2026-11-19T08:15:00Z');
let ids = 0;

function s(name: string, o: Partial<PlanStep> = {}): PlanStep {
  return { step: name, kind: 'sql', after: [], checksum: `sum-${name}`, repeatable: false, transaction: true, ...o };
}

function ev(step: string, event: StepEventKind, o: Partial<RecordedEvent> = {}): RecordedEvent {
  return { id: ++ids, step, event, owner: 'host:41:run1', at: AT, checksum: `sum-${step}`, ...o };
}

function st(latest: RecordedEvent, o: { lastDone?: RecordedEvent; checkpoint?: Checkpoint } = {}): StepState {
  return { step: latest.step, latest, lastDone: o.lastDone ?? (latest.event === 'done' ? latest : undefined), checkpoint: o.checkpoint };
}

function plan(steps: PlanStep[], states: StepState[] = [], checks: Record<string, CheckResult> = {}, allowDrift = false) {
  return planSteps({ steps, state: new Map(states.map((x) => [x.step, x])), checks: new Map(Object.entries(checks)), allowDrift });
}

const actions = (p: ReturnType<typeof plan>) => p.entries.map((e) => [e.step, e.action]);
const reason = (p: ReturnType<typeof plan>, step: string) => p.entries.find((e) => e.step === step)!.reason;

test('stamp: minutes, UTC', () => {
  assert.is(stamp(AT), '2026-11-20T10:00Z');
});

test('never applied: run; entries keep the steps\' order and fields', () => {
  const p = plan([s('01', { description: 'the table' }), s('02', { after: ['01'], kind: 'function', transaction: false, repeatable: true })]);
  assert.equal(actions(p), [
    ['01', 'run'],
    ['02', 'run'],
  ]);
  assert.is(reason(p, '01'), 'never applied');
  assert.equal(p.entries[1], {
    step: '02',
    kind: 'function',
    action: 'run',
    reason: 'never applied',
    after: ['01'],
    checksum: 'sum-02',
    repeatable: true,
    transaction: false,
  });
  assert.is(p.entries[0]!.description, 'the table');
  assert.equal([p.pending, p.drift, p.blocked], [2, 0, 0]);
});

test('done and unchanged: skip, saying when it was applied', () => {
  const p = plan([s('01')], [st(ev('01', 'done'))]);
  assert.equal(actions(p), [['01', 'skip']]);
  assert.is(reason(p, '01'), 'applied 2026-11-20T10:00Z');
  assert.is(p.pending, 0);
});

test('failed last time: run again, with the first line of the error', () => {
  const p = plan([s('01')], [st(ev('01', 'failed', { error: 'relation "needed" does not exist\n  at line 2' }), { lastDone: undefined })]);
  assert.equal(actions(p), [['01', 'run']]);
  assert.is(reason(p, '01'), 'previous attempt failed at 2026-11-20T10:00Z: relation "needed" does not exist');
  const noText = plan([s('01')], [st(ev('01', 'failed'))]);
  assert.is(reason(noText, '01'), 'previous attempt failed at 2026-11-20T10:00Z: unknown error');
  const long = plan([s('01')], [st(ev('01', 'failed', { error: 'x'.repeat(500) }))]);
  assert.is(reason(long, '01'), `previous attempt failed at 2026-11-20T10:00Z: ${'x'.repeat(197)}...`);
});

test('left started, or interrupted: run again, naming the owner', () => {
  const p = plan([s('01'), s('02', { after: ['01'] })], [st(ev('01', 'started', { owner: 'pod-a:7:r1' })), st(ev('02', 'interrupted', { owner: 'pod-b:8:r2' }))]);
  assert.equal(actions(p), [
    ['01', 'run'],
    ['02', 'run'],
  ]);
  assert.is(reason(p, '01'), 'started by pod-a:7:r1 at 2026-11-20T10:00Z and left unfinished (that run is gone: apply records it interrupted and runs it again)');
  assert.is(reason(p, '02'), 'interrupted at 2026-11-20T10:00Z (started by pod-b:8:r2)');
  // The run that holds the lock now started it: it is running, not left unfinished.
  const live = planSteps({ steps: [s('01')], state: new Map([['01', st(ev('01', 'started', { owner: 'pod-a:7:r1' }))]]), checks: new Map(), running: 'pod-a:7:r1' });
  assert.is(live.entries[0]!.reason, 'running in pod-a:7:r1 since 2026-11-20T10:00Z (a live run holds the lock; apply waits for it)');
  const stopped = plan([s('02')], [st(ev('02', 'interrupted', { owner: 'pod-b:8:r2', error: 'SIGTERM received' }))]);
  assert.is(reason(stopped, '02'), 'interrupted at 2026-11-20T10:00Z (SIGTERM received)', 'the record says why');
});

test('a resumable step with a checkpoint: resume, saying where, how far, by whom and when', () => {
  const cp = (value: unknown, done?: number, total?: number): Checkpoint => ({ value, done, total, owner: 'host:41:run1', at: AT });
  const steps = [s('a', { resumable: true }), s('b', { resumable: true, after: [] }), s('c', { resumable: true, after: [] }), s('d', { resumable: true, after: [] })];
  const p = plan(steps, [
    st(ev('a', 'started', { owner: 'pod:1:x' }), { checkpoint: cp(760000, 760000, 1_000_000) }),
    st(ev('b', 'interrupted', { owner: 'pod:2:y' }), { checkpoint: cp({ lastId: 42 }) }),
    st(ev('c', 'failed', { owner: 'pod:3:z', error: 'deadlock detected\nmore' }), { checkpoint: cp('k', 1, 3) }),
    st(ev('d', 'started'), { checkpoint: cp('v'.repeat(100)) }),
  ]);
  assert.equal(actions(p), [
    ['a', 'resume'],
    ['b', 'resume'],
    ['c', 'resume'],
    ['d', 'resume'],
  ]);
  assert.is(reason(p, 'a'), 'left unfinished at checkpoint 760000 (76%) by pod:1:x at 2026-11-20T10:00Z');
  assert.is(reason(p, 'b'), 'interrupted at checkpoint {"lastId":42} by pod:2:y at 2026-11-20T10:00Z');
  assert.is(reason(p, 'c'), 'failed (deadlock detected) at checkpoint "k" (33%) by pod:3:z at 2026-11-20T10:00Z');
  assert.is(reason(p, 'd'), `left unfinished at checkpoint "${'v'.repeat(56)}... by host:41:run1 at 2026-11-20T10:00Z`);
  assert.is(p.pending, 4);
});

test('a resumable step without a checkpoint, or not resumable: no resume', () => {
  const p = plan([s('a', { resumable: true }), s('b', { after: [] })], [
    st(ev('a', 'interrupted')),
    st(ev('b', 'interrupted'), { checkpoint: { value: 5, owner: 'o', at: AT } }),
  ]);
  assert.equal(actions(p), [
    ['a', 'run'],
    ['b', 'run'],
  ]);
});

test('a done resumable step is skipped even if a checkpoint is still around', () => {
  const p = plan([s('a', { resumable: true })], [st(ev('a', 'done'), { checkpoint: { value: 5, owner: 'o', at: AT } })]);
  assert.equal(actions(p), [['a', 'skip']]);
});

test('content changed after it was applied: drift for a once-only step, rerun for a repeatable one', () => {
  const p = plan(
    [s('once', { checksum: 'new' }), s('rep', { checksum: 'new', repeatable: true, after: [] })],
    [st(ev('once', 'done', { checksum: 'old', at: EARLIER })), st(ev('rep', 'done', { checksum: 'old', at: EARLIER }))],
  );
  assert.equal(actions(p), [
    ['once', 'drift'],
    ['rep', 'rerun'],
  ]);
  assert.is(reason(p, 'once'), 'changed since applied 2026-11-19T08:15Z (checksum old -> new)');
  assert.is(reason(p, 'rep'), 'changed since applied 2026-11-19T08:15Z (checksum old -> new)');
  assert.equal([p.pending, p.drift, p.blocked], [1, 1, 0]);
});

test('what changed: both checksums, and a diff of the SQL recorded when it ran against the SQL now', () => {
  const p = plan(
    [s('sql', { checksum: 'new', sql: 'CREATE TABLE t (\n  id int\n);\n' }), s('old', { checksum: 'new', sql: 'SELECT 2' }), s('fn', { checksum: 'new', after: [] })],
    [
      st(ev('sql', 'done', { checksum: 'old', at: EARLIER, sql: 'CREATE TABLE t (\n  id bigint\n);\n' })),
      st(ev('old', 'done', { checksum: 'old', at: EARLIER })),
      st(ev('fn', 'done', { checksum: 'old', at: EARLIER })),
    ],
  );
  const change = (step: string) => p.entries.find((e) => e.step === step)!.change!;
  assert.equal(change('sql'), { applied: 'old', now: 'new', diff: '--- applied 2026-11-19T08:15Z\n+++ now\n@@ -1,3 +1,3 @@\n CREATE TABLE t (\n-  id bigint\n+  id int\n );' });
  assert.match(change('old').noDiff!, /the SQL it ran was not kept/);
  assert.match(change('fn').noDiff!, /not an SQL step/);
});

test('a checksum an earlier zsetup took of the same content is the same step; a function step without version that changed is shown, not drift', () => {
  const p = plan(
    [s('sql', { checksum: 'canonical', formerChecksums: ['raw'] }), s('fn', { checksum: 'code2', codeOnly: true }), s('rep', { checksum: 'code2', codeOnly: true, repeatable: true })],
    [st(ev('sql', 'done', { checksum: 'raw', at: EARLIER })), st(ev('fn', 'done', { checksum: 'code1', at: EARLIER })), st(ev('rep', 'done', { checksum: 'code1', at: EARLIER }))],
    { rep: false },
  );
  assert.equal(actions(p), [
    ['sql', 'skip'],
    ['fn', 'skip'],
    ['rep', 'skip'],
  ]);
  assert.is(reason(p, 'sql'), 'applied 2026-11-19T08:15Z');
  assert.match(reason(p, 'fn'), /^changed \(no version\): its code differs from what was applied 2026-11-19T08:15Z; not run again \(a step runs once: to run new code, give it a new name or make it repeatable\)$/);
  assert.match(reason(p, 'rep'), /^repeatable: check\(lastRun\) returned false \(changed \(no version\)/, 'a repeatable asks its check, not its code');
  assert.is(p.drift, 0);
  assert.equal(stepsNeedingCheck([s('rep', { checksum: 'code2', codeOnly: true, repeatable: true })], new Map([['rep', st(ev('rep', 'done', { checksum: 'code1' }))]])), ['rep']);
});

test('--allow-drift: the drifted step is skipped, and says so', () => {
  const p = plan([s('once', { checksum: 'new' }), s('next', { after: ['once'] })], [st(ev('once', 'done', { checksum: 'old', at: EARLIER }))], {}, true);
  assert.equal(actions(p), [
    ['once', 'skip'],
    ['next', 'run'],
  ]);
  assert.is(reason(p, 'once'), 'changed since applied 2026-11-19T08:15Z (checksum old -> new) (allowed by --allow-drift)');
  assert.ok(p.entries[0]!.allowedDrift, 'marked, so apply warns');
  assert.is(p.drift, 0);
});

test('work after a drifted step is blocked, transitively; independent work and skips are not', () => {
  const p = plan(
    [s('d1', { checksum: 'new' }), s('d2', { after: ['d1'] }), s('d3', { after: ['d2'] }), s('free', { after: [] }), s('done_after', { after: ['d1'] })],
    [st(ev('d1', 'done', { checksum: 'old' })), st(ev('done_after', 'done'))],
  );
  assert.equal(actions(p), [
    ['d1', 'drift'],
    ['d2', 'blocked'],
    ['d3', 'blocked'],
    ['free', 'run'],
    ['done_after', 'skip'],
  ]);
  assert.is(reason(p, 'd2'), 'depends on drifted step "d1" (would run: never applied)');
  assert.is(reason(p, 'd3'), 'depends on blocked step "d2" (would run: never applied)');
  assert.equal([p.pending, p.drift, p.blocked], [1, 1, 2]);
});

test('repeatable: check(lastRun) decides between rerun and skip; a throwing check blocks the step and its dependants', () => {
  const steps = [s('yes', { repeatable: true }), s('no', { repeatable: true, after: [] }), s('boom', { repeatable: true, after: [] }), s('after_boom', { after: ['boom'] }), s('unchecked', { repeatable: true, after: [] })];
  const states = steps.filter((x) => x.step !== 'after_boom').map((x) => st(ev(x.step, 'done', { at: EARLIER })));
  const p = plan(steps, states, { yes: true, no: false, boom: { error: 'check failed: no table\nstack' } });
  assert.equal(actions(p), [
    ['yes', 'rerun'],
    ['no', 'skip'],
    ['boom', 'blocked'],
    ['after_boom', 'blocked'],
    ['unchecked', 'skip'],
  ]);
  assert.is(reason(p, 'yes'), 'repeatable: check(lastRun) returned true');
  assert.is(reason(p, 'no'), 'repeatable: check(lastRun) returned false (applied 2026-11-19T08:15Z)');
  assert.is(reason(p, 'boom'), 'repeatable: check(lastRun) threw: check failed: no table');
  assert.is(reason(p, 'after_boom'), 'depends on blocked step "boom" (would run: never applied)');
  assert.is(reason(p, 'unchecked'), 'applied 2026-11-19T08:15Z');
  assert.equal([p.pending, p.drift, p.blocked], [1, 0, 2]);
});

test('the checksum compared is the last done one, even when a later attempt failed', () => {
  const lastDone = ev('rep', 'done', { checksum: 'sum-rep', at: EARLIER });
  const p = plan([s('rep', { repeatable: true })], [st(ev('rep', 'failed', { checksum: 'other', error: 'x' }), { lastDone })]);
  // A failed latest event is retried whatever the checksum.
  assert.equal(actions(p), [['rep', 'run']]);
});

test('stepsNeedingCheck: only repeatable steps that are done with the same checksum', () => {
  const steps = [s('rep_done', { repeatable: true }), s('rep_changed', { repeatable: true, checksum: 'new' }), s('rep_failed', { repeatable: true }), s('rep_never', { repeatable: true }), s('once_done')];
  const state = new Map(
    [st(ev('rep_done', 'done')), st(ev('rep_changed', 'done', { checksum: 'old' })), st(ev('rep_failed', 'failed')), st(ev('once_done', 'done'))].map((x) => [x.step, x]),
  );
  assert.equal(stepsNeedingCheck(steps, state), ['rep_done']);
});

test("a step left out that holds (ZITADEL's own): the steps after it wait, skipped, transitively; independent steps run; once applied elsewhere, they run", () => {
  const steps = [
    s('01'),
    s('02_ext', { kind: 'zitadel.external', off: 'run by `zitadel setup` (the first instance)', holds: true }),
    s('03', { after: ['02_ext'] }),
    s('04', { after: ['03'] }),
    s('05', { after: ['01'] }),
    s('06_off', { kind: 'prefill', off: 'projection prefill is off (--no-init-projections)' }),
    s('07', { after: ['06_off'] }),
  ];
  const p = plan(steps);
  assert.equal(actions(p), [['01', 'run'], ['02_ext', 'skip'], ['03', 'skip'], ['04', 'skip'], ['05', 'run'], ['06_off', 'skip'], ['07', 'run']]);
  assert.is(reason(p, '03'), 'waits for "02_ext", run by `zitadel setup` (the first instance) (would run: never applied)');
  assert.match(reason(p, '04'), /^waits for "02_ext", run by `zitadel setup`/);
  // ZITADEL ran it (its record, read by the zitadel-state store): the steps after it run.
  const z = ev('02_ext', 'done', { owner: 'ZITADEL', source: 'ZITADEL', checksum: undefined });
  const q = plan(steps, [st(z)]);
  assert.equal(actions(q).slice(1, 4), [['02_ext', 'skip'], ['03', 'run'], ['04', 'run']]);
  assert.is(reason(q, '02_ext'), 'applied by ZITADEL at 2026-11-20T10:00Z');
  // A step after it that was applied already is skipped as applied, and holds nothing back.
  const r = plan(steps, [st(ev('03', 'done'))]);
  assert.equal(actions(r).slice(2, 4), [['03', 'skip'], ['04', 'run']]);
  assert.is(reason(r, '03'), 'applied 2026-11-20T10:00Z');
});

test('WORK_ACTIONS: run, rerun and resume do work; the others do not', () => {
  assert.equal([...WORK_ACTIONS].sort(), ['rerun', 'resume', 'run']);
});

test.run();
