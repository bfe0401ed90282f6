import { Command } from './commander.js';
import { status } from '../api.js';
import { stamp } from '../plan/planner.js';
import { baseOptions, outOf, withCommonOptions, type CommonFlags, type Cli } from './common.js';
import { jsonLine, line, printError, table } from './output.js';
import { exitCodeOf } from './exit.js';

export function statusCommand(cli: Cli): Command {
  return withCommonOptions(new Command('status'))
    .description("each step's recorded state (never writes)")
    .option('--history', 'every recorded event, oldest first')
    .action((flags: CommonFlags & { history?: boolean }) =>
      cli.run(async () => {
        const out = outOf(flags);
        const r = await status({ ...baseOptions(cli, flags), history: flags.history });
        if (r.status !== 'ok') {
          printError(out, r.status, r.error!);
          return exitCodeOf(r.status);
        }
        if (r.history) {
          if (out.json) for (const e of r.history) jsonLine(out, { id: e.id, step: e.step, event: e.event, owner: e.owner, at: e.at.toISOString(), checksum: e.checksum, lastRun: e.lastRun, checkpoint: e.checkpoint, error: e.error });
          else if (r.history.length === 0) line(out, `No events recorded yet on ${r.target}.`);
          else line(out, table([['AT', 'STEP', 'EVENT', 'OWNER', 'ERROR'], ...r.history.map((e) => [e.at.toISOString(), e.step, e.event, e.owner, oneLine(e.error)])]));
          return 0;
        }
        const steps = r.steps!;
        if (out.json) for (const s of steps) jsonLine(out, { step: s.step, state: s.state, at: s.at?.toISOString(), owner: s.owner, error: s.error, declared: s.declared });
        else {
          line(out, `Status on ${r.target}:`);
          line(out, '');
          line(out, table([['STEP', 'STATE', 'AT', 'OWNER', 'NOTE'], ...steps.map((s) => [s.step, s.state, s.at ? stamp(s.at) : '-', s.owner ?? '-', s.declared ? oneLine(s.error) : 'not in the config'])]));
        }
        return 0;
      }),
    );
}

function oneLine(s: string | undefined): string {
  if (!s) return '';
  const l = s.split('\n')[0]!;
  return l.length > 100 ? `${l.slice(0, 97)}...` : l;
}
