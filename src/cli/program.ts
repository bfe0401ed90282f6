/**
 * The `zsetup` command. Thin: parses flags, calls the API, maps results to exit codes.
 * The only place that calls process.exit. The plugins it starts with are given by the
 * caller (../../cli.ts binds the built-in ones): the core knows none.
 */
import '../cjs.js';
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from './commander.js';
import { planCommand } from './plan.js';
import { applyCommand } from './apply.js';
import { statusCommand } from './status.js';
import { cleanupCommand } from './cleanup.js';
import { acceptCommand, baselineCommand } from './record.js';
import { initCommand } from './init.js';
import { newCommand } from './new.js';
import { EXIT } from './exit.js';
import { causeChain, passwordsIn, redact, rememberSecret } from '../errors.js';
import { faultTrapActive } from '../engine/faults.js';
import type { Plugin } from '../config/dsl.js';
import type { Cli } from './common.js';

/** Parses `process.argv`, runs the command and exits with its code. */
export function runCli(options: { defaults: () => readonly Plugin[] }): void {

  // Every password known from the environment is scrubbed from every output from here on.
  for (const pw of passwordsIn(process.env.ZSETUP_DATABASE_URL)) rememberSecret(pw);
  rememberSecret(process.env.PGPASSWORD);

  // A closed stdout (`zsetup apply | head -3`: EPIPE) must not end a run half-way: from then
  // on stdout is dropped and the command finishes (its outcome is recorded and its exit code
  // still tells); stderr says so once. A closed stderr is dropped silently.
  const closedStreams = new Set<string>();
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') return;
      const closed = stream === process.stdout ? 'stdout' : 'stderr';
      if (closedStreams.has(closed)) return;
      closedStreams.add(closed);
      stream.write = (() => true) as typeof stream.write;
      if (closed === 'stdout') process.stderr.write('zsetup: stdout was closed (EPIPE); its output is dropped, the command goes on\n');
    });
  }

  // The last line of defence: an error no command handled (a bug of ours) is one line,
  // scrubbed, never a stack trace (unless ZSETUP_DEBUG). While a command runs, the engine's
  // own trap routes such errors to the step (or run) that caused them.
  // Set once the command's work is over: an error after that came from code the command
  // ran (a step's timer that fired while the run was closing), not from zsetup itself.
  let returned = false;
  const internal = (err: unknown) => {
    if (faultTrapActive()) return;
    process.stderr.write(
      returned
        ? `zsetup: after the command had finished, code it ran (a step, a plugin or the config) left an error behind: ${redact(causeChain(err))}\n`
        : `zsetup: internal error: ${redact(causeChain(err))}\n`,
    );
    if (process.env.ZSETUP_DEBUG) process.stderr.write(`${redact(String((err as Error)?.stack))}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', internal);
  process.on('unhandledRejection', internal);

  // A command that stops making progress (the event loop has nothing left to wait for, yet
  // the command never finished) must not let the process end with exit 0.
  let finished = false;
  process.on('exit', () => {
    if (finished || process.exitCode) return;
    process.stderr.write('zsetup: internal error: the command stopped making progress (nothing was left to wait for) before it finished\n');
    process.exitCode = 1;
  });

  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

  /**
   * Runs one command and exits with its code. Signals are the signal-handler plugin's
   * business (it stops the run through the API); nothing here traps them.
   */
  async function run(fn: () => Promise<number>): Promise<void> {
    let code: number;
    try {
      code = await fn();
      returned = true;
    } catch (err) {
      process.stderr.write(`zsetup: internal error: ${redact(causeChain(err))}\n`);
      if (process.env.ZSETUP_DEBUG) process.stderr.write(`${redact(String((err as Error)?.stack))}\n`);
      code = 1;
    }
    finished = true;
    process.exitCode = code;
    // Everything is closed by now; do not wait for stray timers of user code, but do wait
    // for what is still queued for stdout and stderr: writes to a pipe are asynchronous, and
    // exiting at once cut `zsetup plan | less` off after 64 KB.
    await flushed(process.stdout);
    await flushed(process.stderr);
    setImmediate(() => process.exit(code)).unref();
  }

  /** Resolve once `stream` has written everything queued (or can no longer write). */
  function flushed(stream: NodeJS.WriteStream): Promise<void> {
    if (stream.writableLength === 0 || stream.destroyed || closedStreams.has(stream === process.stdout ? 'stdout' : 'stderr')) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        for (const e of ['drain', 'close', 'error', 'finish']) stream.off(e, done);
        resolve();
      };
      for (const e of ['drain', 'close', 'error', 'finish']) stream.once(e, done);
    });
  }

  const program = new Command('zsetup')
    .description('Declarative, kill-proof migrations for PostgreSQL (ZITADEL setup, re-imagined)')
    .version(pkg.version, '-v, --version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(redact(str)), writeErr: (str) => process.stderr.write(redact(str)) });

  const cli: Cli = { run, defaults: options.defaults };
  program.addCommand(planCommand(cli));
  program.addCommand(applyCommand(cli));
  program.addCommand(statusCommand(cli));
  program.addCommand(cleanupCommand(cli));
  program.addCommand(baselineCommand(cli));
  program.addCommand(acceptCommand(cli));
  program.addCommand(initCommand(cli));
  program.addCommand(newCommand(cli));
  program.addHelpText(
    'after',
    `
  Exit codes: 0 ok, 1 step failed, 2 config/usage error, 3 lock timeout (cleanup: a live run
  holds the lock), 4 drift refused, 5 no database connection (at once when no wait can fix it:
  no such database or role, authentication, SSL; else after --connect-timeout), 10 plan --exit-code: work pending,
  130/143 stopped by SIGINT/SIGTERM or --deadline (resumable: the next apply continues).
  Database: ZSETUP_DATABASE_URL or database.url; unset, the embedded PGlite in .zsetup/pglite.`,
  );
  for (const c of program.commands) c.exitOverride();

  // No command at all (a Job that forgot "apply"): usage on stderr, exit 2, never success.
  // Not a top-level await: a stalled command then reaches the 'exit' check above (exit 1)
  // instead of Node's "unsettled top-level await" (exit 13).
  if (process.argv.length <= 2) {
    process.stderr.write(`${program.helpInformation()}\nzsetup: no command given: run zsetup apply, plan, status, cleanup, baseline or accept (zsetup init starts a project)\n`);
    finished = true;
    process.exitCode = EXIT.usage;
  } else {
    program.parseAsync(process.argv).then(
      () => {
        finished = true;
      },
      (err: unknown) => {
        finished = true;
        if (err instanceof CommanderError) {
          // --help, --version, `help`: 0. Help shown because something was missing: a usage error.
          const ok = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || (err.code === 'commander.help' && err.exitCode === 0);
          process.exitCode = ok ? 0 : EXIT.usage;
        } else internal(err);
      },
    );
  }
}
