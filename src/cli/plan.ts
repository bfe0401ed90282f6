import type { Command } from './commander.js';
import { plan } from '../api.js';
import { baseOptions, logToStderr, withCommonOptions, withProjectionOptions, type CommonFlags, type Cli } from './common.js';
import { rendererFor } from './formats.js';
import { EXIT, exitCodeOf } from './exit.js';

export function planCommand(cli: Cli): Command {
  return withProjectionOptions(withCommonOptions('plan'))
    .description('dry run: show what apply would do, and why (never writes)')
    .option('--exit-code', `exit ${EXIT.pending} when work is pending or blocked, ${EXIT.drift} on drift, 0 when everything is up to date (for CI gates)`)
    .option('--sql', 'also show the exact SQL each pending step would run, in order, with its transaction boundaries')
    .action((flags: CommonFlags & { exitCode?: boolean; sql?: boolean }, cmd: Command) => {
      const render = rendererFor(cmd, flags, 'plan');
      return cli.run(async () => {
        // What the engine says while it gets there (PGlite initialising) goes to stderr: stdout is the plan.
        const r = await plan({ ...baseOptions(cli, flags), onEvent: logToStderr });
        if (!r.plan) {
          render.error(r.status, r.error!);
          return exitCodeOf(r.status);
        }
        const p = r.plan;
        render.plan({ plan: p, target: r.target, ...(flags.sql ? { sql: true } : {}) });
        if (!flags.exitCode) return EXIT.ok;
        // drift: apply would refuse; blocked: apply would not finish; pending: work to do.
        if (p.drift > 0) return EXIT.drift;
        return p.pending > 0 || p.blocked > 0 ? EXIT.pending : EXIT.ok;
      });
    });
}
