#!/usr/bin/env node
/**
 * The `zsetup` command. Thin: parses flags, calls the API, maps results to exit codes.
 * The only place that calls process.exit.
 */
import '../cjs.js';
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from './commander.js';
import { planCommand } from './plan.js';
import { applyCommand } from './apply.js';
import { statusCommand } from './status.js';
import { cleanupCommand } from './cleanup.js';
import { EXIT } from './exit.js';
import { redact } from '../errors.js';

// `zsetup status --json | head`: a closed pipe is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/**
 * Runs one command and exits with its code. Signals are the signal-handler plugin's
 * business (it stops the run through the API); nothing here traps them.
 */
async function run(fn: () => Promise<number>): Promise<void> {
  let code: number;
  try {
    code = await fn();
  } catch (err) {
    process.stderr.write(`zsetup: internal error: ${redact((err as Error)?.message ?? String(err))}\n`);
    if (process.env.ZSETUP_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
    code = 1;
  }
  process.exitCode = code;
  // Everything is closed by now; do not wait for stray timers of user code.
  setImmediate(() => process.exit(code)).unref();
}

const program = new Command('zsetup')
  .description('Declarative, kill-proof migrations for PostgreSQL (ZITADEL setup, re-imagined)')
  .version(pkg.version, '-v, --version')
  .showSuggestionAfterError(true)
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(str) });

program.addCommand(planCommand(run));
program.addCommand(applyCommand(run));
program.addCommand(statusCommand(run));
program.addCommand(cleanupCommand(run));
program.addHelpText(
  'after',
  `
Exit codes: 0 ok, 1 step failed, 2 config/usage error, 3 lock timeout (cleanup: a live run
holds the lock), 4 drift refused, 5 database unreachable, 10 plan --exit-code: work pending,
130/143 stopped by SIGINT/SIGTERM or --deadline (resumable: the next apply continues).
Database: ZSETUP_DATABASE_URL or database.url; unset, the embedded PGlite in .zsetup/pglite.`,
);
for (const c of program.commands) c.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
    process.exitCode = ok ? 0 : EXIT.usage;
  } else throw err;
}
