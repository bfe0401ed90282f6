import { Command } from 'commander';
import { apply } from '../api.js';
import { formatMs } from '../config/duration.js';
import { baseOptions, outOf, withCommonOptions, type CommonFlags, type RunContext } from './common.js';
import { jsonLine, line, printError, textRenderer } from './output.js';
import { EXIT, exitCodeOf } from './exit.js';

export function applyCommand(run: (fn: (ctx: RunContext) => Promise<number>) => Promise<void>): Command {
  return withCommonOptions(new Command('apply'))
    .description('run the plan: every pending step, in dependency order, under the run lock')
    .option('--concurrency <n>', 'run up to n independent steps at once (capped by the pool size) [env: ZSETUP_CONCURRENCY]')
    .option('--allow-drift', 'do not refuse when once-only steps changed after they ran (leave them as applied)')
    .action((flags: CommonFlags & { concurrency?: string; allowDrift?: boolean }) =>
      run(async (ctx) => {
        const out = outOf(flags);
        const render = out.json ? (e: unknown) => jsonLine(out, e) : textRenderer(out);
        const r = await apply({ ...baseOptions(flags, ctx), allowDrift: flags.allowDrift, onEvent: render });
        const counts = {
          applied: r.steps.filter((s) => s.status === 'applied').length,
          skipped: r.steps.filter((s) => s.status === 'skipped').length,
          failed: r.steps.filter((s) => s.status === 'failed').length,
          blocked: r.steps.filter((s) => s.status === 'blocked').length,
          interrupted: r.steps.filter((s) => s.status === 'interrupted').length,
        };
        const stoppedBy = ctx.stoppedBy();
        if (out.json) jsonLine(out, { type: 'run.finished', status: r.status, ...counts, durationMs: Math.round(r.durationMs) });
        if (r.error && (r.status !== 'ok' && r.status !== 'failed')) {
          if (!(r.status === 'interrupted' && stoppedBy)) printError(out, r.status, r.error);
        } else if (!out.json) {
          if (r.status === 'ok' && counts.applied === 0) line(out, `Everything is up to date (${counts.skipped} step${counts.skipped === 1 ? '' : 's'}, nothing to do) on ${r.target}.`);
          else
            line(
              out,
              `${r.status === 'ok' ? 'Done' : r.status === 'interrupted' ? 'Stopped' : 'Failed'}: ${counts.applied} applied, ${counts.skipped} up to date, ${counts.failed} failed, ${counts.blocked} not run${counts.interrupted ? `, ${counts.interrupted} interrupted` : ''} in ${formatMs(r.durationMs)} on ${r.target}.`,
            );
          if (r.status === 'failed') process.stderr.write('zsetup: a step failed; fix it and run apply again (it retries the failed step)\n');
        }
        if (r.status === 'interrupted' && stoppedBy) return EXIT[stoppedBy as 'SIGINT' | 'SIGTERM'] ?? EXIT.SIGTERM;
        return exitCodeOf(r.status);
      }),
    );
}
