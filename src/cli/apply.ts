import type { Command } from './commander.js';
import { apply } from '../api.js';
import { baseOptions, withCommonOptions, withProjectionOptions, type CommonFlags, type Cli } from './common.js';
import { rendererFor } from './formats.js';
import { EXIT, exitCodeOf } from './exit.js';

export function applyCommand(cli: Cli): Command {
  return withProjectionOptions(withCommonOptions('apply'))
    .description('run the plan: every pending step, in dependency order, under the run lock')
    .option('--concurrency <n>', 'run up to n independent steps at once (capped by the pool size) [env: ZSETUP_CONCURRENCY]')
    .option('--deadline <duration>', 'stop gracefully before this much time has passed (e.g. 25m), at the next checkpoint; exit 143 [env: ZSETUP_DEADLINE]')
    .option('--allow-drift', 'do not refuse when once-only steps changed after they ran (leave them as applied)')
    .action((flags: CommonFlags & { concurrency?: string; deadline?: string; allowDrift?: boolean }, cmd: Command) => {
      const render = rendererFor(cmd, flags, 'apply');
      return cli.run(async () => {
        // --deadline counts from the process start (a Job's activeDeadlineSeconds does), config load included.
        const r = await apply({ ...baseOptions(cli, flags), allowDrift: flags.allowDrift, onEvent: (e) => render.event(e), startedAt: performance.timeOrigin });
        const leftOut = new Set(r.plan?.entries.filter((e) => e.leftOut).map((e) => e.step) ?? []);
        const counts = {
          applied: r.steps.filter((s) => s.status === 'applied').length,
          skipped: r.steps.filter((s) => s.status === 'skipped' && !leftOut.has(s.step)).length,
          leftOut: r.steps.filter((s) => s.status === 'skipped' && leftOut.has(s.step)).length,
          failed: r.steps.filter((s) => s.status === 'failed').length,
          blocked: r.steps.filter((s) => s.status === 'blocked').length,
          interrupted: r.steps.filter((s) => s.status === 'interrupted').length,
        };
        // A run that failed or stopped says so in its summary; any other error ended it before it could.
        const error = r.error && r.status !== 'ok' && r.status !== 'failed' && r.status !== 'interrupted' ? r.error : undefined;
        render.finish({ command: 'apply', status: r.status, counts, durationMs: r.durationMs, target: r.target, stop: r.stop, error });
        if (error) render.error(r.status, error);
        if (r.status === 'interrupted') return r.stop?.kind === 'signal' && r.stop.signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM;
        return exitCodeOf(r.status);
      });
    });
}
