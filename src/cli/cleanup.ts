import { Command } from './commander.js';
import { cleanup } from '../api.js';
import { baseOptions, outOf, withCommonOptions, type CommonFlags, type Cli } from './common.js';
import { jsonLine, line, printError } from './output.js';
import { exitCodeOf } from './exit.js';

export function cleanupCommand(cli: Cli): Command {
  return withCommonOptions(new Command('cleanup'))
    .description('record every stuck step (left "started" by a run that is gone) as interrupted; refuses while a live run holds the lock. apply does this on its own')
    .action((flags: CommonFlags) =>
      cli.run(async () => {
        const out = outOf(flags);
        // Never wait for a live run: refuse at once unless --lock-timeout says otherwise.
        const r = await cleanup(baseOptions(cli, { ...flags, lockTimeout: flags.lockTimeout ?? '0' }));
        if (r.status !== 'ok') {
          printError(out, r.status, r.error!);
          return exitCodeOf(r.status);
        }
        if (out.json) for (const s of r.recovered) jsonLine(out, { step: s.step, previousOwner: s.previousOwner, startedAt: s.startedAt.toISOString(), recorded: 'interrupted' });
        else if (r.recovered.length === 0) line(out, `Nothing to clean up on ${r.target}: no step is left started.`);
        else {
          for (const s of r.recovered) line(out, `  ! ${s.step}: left started by ${s.previousOwner} at ${s.startedAt.toISOString()}; recorded interrupted`);
          line(out, `Cleaned up ${r.recovered.length} stuck step${r.recovered.length === 1 ? '' : 's'} on ${r.target}; the next apply runs or resumes ${r.recovered.length === 1 ? 'it' : 'them'}.`);
        }
        return 0;
      }),
    );
}
