/**
 * The plan, with the answers of the repeatable steps' `check()` (or `lastRun()` compared
 * with the value recorded last time). Each runs in its own fault scope and bounded in time,
 * so a check that throws in a timer or never settles blocks its step, never the command.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Project } from '../config/project.js';
import { CONFIG_TIMEOUT_MS } from '../config/load.js';
import { formatMs, parseDuration } from '../config/duration.js';
import { causeChain, describeThrown, redact } from '../errors.js';
import type { FaultTrap } from '../engine/faults.js';
import type { StepState } from '../state/store.js';
import { planSteps, stepsNeedingCheck, type CheckResult, type Plan } from '../plan/planner.js';

export async function planFor(project: Project, state: Map<string, StepState>, allowDrift: boolean, faults?: FaultTrap, running?: string): Promise<Plan> {
  const declared = project.steps.map((s) => s.plan);
  const checks = new Map<string, CheckResult>();
  const byName = new Map(project.steps.map((s) => [s.def.name, s] as const));
  for (const name of stepsNeedingCheck(declared, state)) {
    const rep = byName.get(name)!.def.repeatable!;
    const last = state.get(name)?.lastDone?.lastRun;
    try {
      const decide = () => Promise.resolve().then(async () => (rep.check ? Boolean(await rep.check(last)) : !isDeepStrictEqual(normalizeJson(await rep.lastRun()), last)));
      checks.set(name, await boundedCheck(name, decide, faults));
    } catch (err) {
      checks.set(name, { error: redact(causeChain(err), project.config.secrets) });
    }
  }
  return planSteps({ steps: declared, state, checks, allowDrift, running });
}

/** How long a repeatable step's check() may take (`ZSETUP_CONFIG_TIMEOUT` changes it too). */
function checkTimeoutMs(): number {
  const v = process.env.ZSETUP_CONFIG_TIMEOUT;
  return (v ? parseDuration(v) : undefined) ?? CONFIG_TIMEOUT_MS;
}

/**
 * Run a repeatable step's check() in its own fault scope (a throw it leaves in a timer
 * fails the check, not the run) and bounded in time (a check that never settles blocks
 * its step instead of hanging the command).
 */
async function boundedCheck(name: string, decide: () => Promise<boolean>, faults?: FaultTrap): Promise<boolean> {
  let fail!: (err: Error) => void;
  const failed = new Promise<never>((_r, reject) => (fail = reject));
  failed.catch(() => undefined);
  let done = false;
  const ms = checkTimeoutMs();
  const timer = setTimeout(() => fail(new Error(`check() did not settle within ${formatMs(ms)}`)), ms);
  const scope = {
    step: name,
    fault: (err: unknown, how: string) => {
      if (!done) fail(new Error(`${describeThrown(err)} (${how} left behind by check())`));
    },
    idle: () => fail(new Error('check() can never settle: it waits for something that never happens')),
  };
  try {
    faults?.enter(scope);
    const p = faults ? faults.run(scope, decide) : decide();
    p.catch(() => undefined);
    return await Promise.race([p, failed]);
  } finally {
    done = true;
    clearTimeout(timer);
    faults?.leave(scope);
  }
}

/** What a value looks like after a JSON round trip through the journal. */
function normalizeJson(v: unknown): unknown {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

