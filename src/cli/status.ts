import type { Command } from './commander.js';
import { status } from '../api.js';
import { baseOptions, logToStderr, withCommonOptions, type CommonFlags, type Cli } from './common.js';
import { rendererFor } from './formats.js';
import { exitCodeOf } from './exit.js';

export function statusCommand(cli: Cli): Command {
  return withCommonOptions('status')
    .description("each step's recorded state (never writes)")
    .option('--history', 'every recorded event, oldest first')
    .action((flags: CommonFlags & { history?: boolean }, cmd: Command) => {
      const render = rendererFor(cmd, flags, 'status');
      return cli.run(async () => {
        const r = await status({ ...baseOptions(cli, flags), history: flags.history, onEvent: logToStderr });
        if (r.status !== 'ok') {
          render.error(r.status, r.error!);
          return exitCodeOf(r.status);
        }
        render.status(r.history ? { target: r.target, history: r.history } : { target: r.target, steps: r.steps! });
        return 0;
      });
    });
}
