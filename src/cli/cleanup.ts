import type { Command } from './commander.js';
import { cleanup } from '../api.js';
import { baseOptions, logToStderr, withCommonOptions, type CommonFlags, type Cli } from './common.js';
import { rendererFor } from './formats.js';
import { exitCodeOf } from './exit.js';

export function cleanupCommand(cli: Cli): Command {
  return withCommonOptions('cleanup')
    .description('record every stuck step (left "started" by a run that is gone) as interrupted; refuses while a live run holds the lock. apply does this on its own')
    .action((flags: CommonFlags, cmd: Command) => {
      const render = rendererFor(cmd, flags, 'cleanup');
      return cli.run(async () => {
        // Never wait for a live run: refuse at once unless --lock-timeout says otherwise.
        const r = await cleanup({ ...baseOptions(cli, { ...flags, lockTimeout: flags.lockTimeout ?? '0' }), onEvent: logToStderr });
        if (r.status !== 'ok') {
          render.error(r.status, r.error!);
          return exitCodeOf(r.status);
        }
        render.finish({ command: 'cleanup', target: r.target, recovered: r.recovered });
        return 0;
      });
    });
}
