/**
 * Steps that are ZITADEL's business logic in Go (the first instance, fields filled by
 * projection triggers, web keys, the system id, the repeatables that push events):
 * zsetup declares them, in ZITADEL's order, and never runs or records them. `plan` shows
 * each as run by `zitadel setup`, or, once ZITADEL's records say so, "applied by ZITADEL at
 * <time>" (the zitadel-state store reads them). ZITADEL's own setup, started afterwards,
 * finds every other step done and runs exactly these. The steps after one (`after`) wait
 * for it: skipped, not failed, until ZITADEL has run it.
 */
import type { StepDefinition, StepKind } from 'zsetup/plugin';

export interface ExternalStep extends StepDefinition {
  /** What ZITADEL's Go does in this step, for `plan`. */
  readonly why: string;
}

/** A step of ZITADEL's setup that `zitadel setup` runs, not zsetup (see the file's header). */
export function external(name: string, why: string, o: { after?: string[]; description?: string } = {}): ExternalStep {
  return { kind: 'zitadel.external', name, why, description: o.description ?? why, ...(o.after ? { after: o.after } : {}) };
}

export const externalKind: StepKind<ExternalStep> = {
  kind: 'zitadel.external',
  fields: { why: 'what ZITADEL does in this step (text)' },
  traits: { transaction: 'never', resumable: 'never', repeatable: false },
  prepare(def, ctx) {
    if (typeof def.why !== 'string' || def.why.trim() === '') ctx.problem('why', 'expected a description of what ZITADEL does in this step');
    return { source: `zitadel.external:${def.name}` };
  },
  // Always left out: ZITADEL's binary runs it. The steps after it wait until ZITADEL's
  // records say it ran (steps of ZITADEL's order that are independent of it do not list it
  // in `after`).
  off(def) {
    return `run by \`zitadel setup\` (${def.why})`;
  },
  holds: true,
  run(def) {
    throw new Error(`step "${def.name}" is ZITADEL's own (${def.why}): run \`zitadel setup\` for it`);
  },
};
