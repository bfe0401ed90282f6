/**
 * The JSON format, for machines: every line on stdout is one JSON object, nothing else
 * (errors too). The fields are listed in the README (Commands).
 */
import { describeStop } from '../../engine/events.js';
import { ConfigError, type ZsetupError } from '../../errors.js';
import { jsonLine } from '../output.js';
import { WORK_ACTIONS } from '../../plan/planner.js';
import type { Format } from '../renderer.js';

export const json: Format = {
  description: 'writes one JSON object per line and nothing else (the same as --json)',
  commands: ['plan', 'apply', 'status', 'cleanup', 'baseline', 'accept'],
  create: (out) => ({
    event: (e) => jsonLine(out, e),
    plan({ plan, sql }) {
      for (const e of plan.entries) jsonLine(out, { ...(sql && e.sql !== undefined && WORK_ACTIONS.has(e.action) ? { sql: e.sql } : {}), step: e.step, action: e.action, reason: e.reason, kind: e.kind, after: e.after, repeatable: e.repeatable, transaction: e.transaction, checksum: e.checksum, ...(e.description ? { description: e.description } : {}), ...(e.leftOut ? { leftOut: true } : {}), ...(e.change ? { change: e.change } : {}) });
    },
    status(view) {
      if ('history' in view) for (const e of view.history) jsonLine(out, { id: e.id, step: e.step, event: e.event, owner: e.owner, at: e.at.toISOString(), checksum: e.checksum, lastRun: e.lastRun, checkpoint: e.checkpoint, error: e.error, ...(e.via ? { via: e.via } : {}) });
      else for (const s of view.steps) jsonLine(out, { step: s.step, state: s.state, at: s.at?.toISOString(), owner: s.owner, error: s.error, declared: s.declared, ...(s.running !== undefined ? { running: s.running } : {}), ...(s.via ? { via: s.via } : {}) });
    },
    finish(finish) {
      if (finish.command === 'baseline' || finish.command === 'accept') {
        for (const e of finish.entries) jsonLine(out, { step: e.step, recorded: finish.declined ? 'nothing (not confirmed)' : 'done', via: finish.command, checksum: e.checksum, ...(e.change ? { change: { applied: e.change.applied, now: e.change.now } } : {}) });
        return;
      }
      if (finish.command === 'cleanup') {
        for (const s of finish.recovered) jsonLine(out, { step: s.step, previousOwner: s.previousOwner, startedAt: s.startedAt.toISOString(), recorded: 'interrupted' });
        return;
      }
      jsonLine(out, { type: 'run.finished', status: finish.status, ...finish.counts, durationMs: Math.round(finish.durationMs), ...(finish.stop ? { stop: describeStop(finish.stop) } : {}) });
    },
    error(status, err) {
      const hint = (err as ZsetupError).hint;
      const problems = err instanceof ConfigError ? err.problems : undefined;
      // A connection that failed says why: `code` (database-missing, auth-failed, refused, ...), and the server's SQLSTATE.
      const { code, sqlstate } = err as { code?: unknown; sqlstate?: unknown };
      jsonLine(out, { type: 'error', status, ...(typeof code === 'string' ? { code } : {}), ...(typeof sqlstate === 'string' ? { sqlstate } : {}), message: err.message, ...(hint ? { hint } : {}), ...(problems ? { problems } : {}) });
    },
  }),
};
