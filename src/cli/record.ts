/**
 * `zsetup baseline` and `zsetup accept`: record steps as applied without running them.
 * baseline adopts a database that already has what the steps make; accept takes a reviewed
 * change of a step that ran. Both show what they will record; baseline asks on a TTY
 * (`--yes` in scripts: without a TTY and without it, it refuses).
 */
import { createInterface } from 'node:readline/promises';
import type { Command } from './commander.js';
import { accept, baseline, type RecordOptions } from '../api.js';
import type { PlanEntry } from '../plan/planner.js';
import { baseOptions, withCommonOptions, type CommonFlags, type Cli } from './common.js';
import { rendererFor } from './formats.js';
import { EXIT, exitCodeOf } from './exit.js';

interface RecordFlags extends CommonFlags {
  until?: string;
  yes?: boolean;
}

export function baselineCommand(cli: Cli): Command {
  return withCommonOptions('baseline')
    .description('record steps as applied without running them, for a database that already has what they make (shows them first; asks on a terminal)')
    .argument('[steps...]', 'the steps to record (default: every step that would run)')
    .option('--until <step>', 'every step that would run, in plan order, up to and including this one')
    .option('-y, --yes', 'do not ask (needed when not on a terminal)')
    .action((steps: string[], flags: RecordFlags, cmd: Command) => recordAction(cli, cmd, 'baseline', steps, flags));
}

export function acceptCommand(cli: Cli): Command {
  return withCommonOptions('accept')
    .description('after review, record the new content of steps that changed after they ran (drift): nothing runs, apply then takes them as applied')
    .argument('<steps...>', 'the changed steps (`zsetup plan` shows them, with a diff)')
    .action((steps: string[], flags: RecordFlags, cmd: Command) => recordAction(cli, cmd, 'accept', steps, flags));
}

function recordAction(cli: Cli, cmd: Command, command: 'baseline' | 'accept', steps: string[], flags: RecordFlags): Promise<void> {
  const render = rendererFor(cmd, flags, command);
  const asks = command === 'baseline' && !flags.yes;
  if (asks && !process.stdin.isTTY) {
    cmd.error(`error: baseline records steps as applied without running them: pass --yes to do that without a terminal to ask on`, { exitCode: EXIT.usage, code: 'zsetup.confirm' });
  }
  const options: RecordOptions = {
    ...baseOptions(cli, flags),
    steps,
    ...(flags.until !== undefined ? { until: flags.until } : {}),
    onEvent: (e) => render.event(e),
    ...(asks ? { confirm: (entries: readonly PlanEntry[], target: string) => ask(entries, target) } : {}),
  };
  return cli.run(async () => {
    const r = await (command === 'baseline' ? baseline(options) : accept(options));
    if (r.status !== 'ok' && r.status !== 'declined') {
      render.error(r.status, r.error!);
      return exitCodeOf(r.status);
    }
    render.finish({ command, target: r.target, entries: r.entries, declined: r.status === 'declined' });
    return r.status === 'declined' ? EXIT.usage : 0;
  });
}

/** Show what baseline will record and ask on the terminal (stderr, so stdout stays the result). */
async function ask(entries: readonly PlanEntry[], target: string): Promise<boolean> {
  process.stderr.write(`zsetup baseline will record ${entries.length} step${entries.length === 1 ? '' : 's'} as applied on ${target}, without running ${entries.length === 1 ? 'it' : 'them'}:\n`);
  for (const e of entries) process.stderr.write(`  ${e.step}  (${e.action}: ${e.reason})\n`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question('Record them? [y/N] ');
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
