import { Command } from './commander.js';
import { apply } from '../api.js';
import { formatMs } from '../config/duration.js';
import { describeStop } from '../engine/events.js';
import { baseOptions, outOf, withCommonOptions, type CommonFlags, type Cli } from './common.js';
import { errLine, jsonLine, line, printError, textRenderer } from './output.js';
import { EXIT, exitCodeOf } from './exit.js';

export function applyCommand(cli: Cli): Command {
  return withCommonOptions(new Command('apply'))
    .description('run the plan: every pending step, in dependency order, under the run lock')
    .option('--concurrency <n>', 'run up to n independent steps at once (capped by the pool size) [env: ZSETUP_CONCURRENCY]')
    .option('--deadline <duration>', 'stop gracefully before this much time has passed (e.g. 25m), at the next checkpoint; exit 143 [env: ZSETUP_DEADLINE]')
    .option('--allow-drift', 'do not refuse when once-only steps changed after they ran (leave them as applied)')
    .action((flags: CommonFlags & { concurrency?: string; deadline?: string; allowDrift?: boolean }) =>
      cli.run(async () => {
        const out = outOf(flags);
        const render = out.json ? (e: unknown) => jsonLine(out, e) : textRenderer(out, { tty: Boolean(process.stderr.isTTY) && !process.env.CI });
        // --deadline counts from the process start (a Job's activeDeadlineSeconds does), config load included.
        const r = await apply({ ...baseOptions(cli, flags), allowDrift: flags.allowDrift, onEvent: render, startedAt: performance.timeOrigin });
        const counts = {
          applied: r.steps.filter((s) => s.status === 'applied').length,
          skipped: r.steps.filter((s) => s.status === 'skipped').length,
          failed: r.steps.filter((s) => s.status === 'failed').length,
          blocked: r.steps.filter((s) => s.status === 'blocked').length,
          interrupted: r.steps.filter((s) => s.status === 'interrupted').length,
        };
        if (out.json) jsonLine(out, { type: 'run.finished', status: r.status, ...counts, durationMs: Math.round(r.durationMs), ...(r.stop ? { stop: describeStop(r.stop) } : {}) });
        if (r.error && r.status !== 'ok' && r.status !== 'failed' && r.status !== 'interrupted') {
          printError(out, r.status, r.error);
        } else if (!out.json) {
          if (r.status === 'ok' && counts.applied === 0) line(out, `Everything is up to date (${counts.skipped} step${counts.skipped === 1 ? '' : 's'}, nothing to do) on ${r.target}.`);
          else
            line(
              out,
              `${r.status === 'ok' ? 'Done' : r.status === 'interrupted' ? 'Stopped' : 'Failed'}: ${counts.applied} applied, ${counts.skipped} up to date, ${counts.failed} failed, ${counts.blocked} not run${counts.interrupted ? `, ${counts.interrupted} interrupted` : ''} in ${formatMs(r.durationMs)}${r.target ? ` on ${r.target}` : ''}.`,
            );
          if (r.status === 'failed')
            errLine(out, r.stop?.kind === 'fault' ? `zsetup: ${describeStop(r.stop)}; fix it and run apply again` : 'zsetup: a step failed or could not run; fix it and run apply again (it retries the failed step)');
          if (r.status === 'interrupted') errLine(out, `zsetup: stopped${r.stop ? ` (${describeStop(r.stop)})` : ''}; the lock is released and the next apply continues where this one stopped`);
        }
        if (r.status === 'interrupted') return r.stop?.kind === 'signal' && r.stop.signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
        return exitCodeOf(r.status);
      }),
    );
}
