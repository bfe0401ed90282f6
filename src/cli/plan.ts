import { Command } from './commander.js';
import { plan } from '../api.js';
import { baseOptions, outOf, withCommonOptions, type CommonFlags, type Cli } from './common.js';
import { jsonLine, line, printError, table } from './output.js';
import { EXIT, exitCodeOf } from './exit.js';

export function planCommand(cli: Cli): Command {
  return withCommonOptions(new Command('plan'))
    .description('dry run: show what apply would do, and why (never writes)')
    .option('--exit-code', `exit ${EXIT.pending} when work is pending or blocked, ${EXIT.drift} on drift, 0 when everything is up to date (for CI gates)`)
    .action((flags: CommonFlags & { exitCode?: boolean }) =>
      cli.run(async () => {
        const out = outOf(flags);
        const r = await plan(baseOptions(cli, flags));
        if (!r.plan) {
          printError(out, r.status, r.error!);
          return exitCodeOf(r.status);
        }
        const p = r.plan;
        if (out.json) {
          for (const e of p.entries) jsonLine(out, { step: e.step, action: e.action, reason: e.reason, kind: e.kind, after: e.after, repeatable: e.repeatable, transaction: e.transaction, checksum: e.checksum, ...(e.description ? { description: e.description } : {}) });
        } else {
          const upToDate = p.entries.filter((e) => e.action === 'skip').length;
          line(out, `Plan for ${r.target}: ${p.pending} to run, ${upToDate} up to date${p.drift ? `, ${p.drift} drifted` : ''}${p.blocked ? `, ${p.blocked} blocked` : ''}`);
          if (p.entries.length > 0) {
            line(out, '');
            const withDescriptions = p.entries.some((e) => e.description);
            const head = withDescriptions ? ['STEP', 'ACTION', 'REASON', 'DESCRIPTION'] : ['STEP', 'ACTION', 'REASON'];
            line(out, table([head, ...p.entries.map((e) => (withDescriptions ? [e.step, e.action, e.reason, e.description ?? ''] : [e.step, e.action, e.reason]))]));
          }
          if (p.drift) line(out, `\napply will refuse: a once-only step changed after it ran (see "drift" above); pass --allow-drift to leave it as applied.`);
        }
        if (!flags.exitCode) return EXIT.ok;
        // drift: apply would refuse; blocked: apply would not finish; pending: work to do.
        if (p.drift > 0) return EXIT.drift;
        return p.pending > 0 || p.blocked > 0 ? EXIT.pending : EXIT.ok;
      }),
    );
}
