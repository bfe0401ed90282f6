import { Command, Option } from './commander.js';
import type { BaseOptions } from '../api.js';
import type { Plugin } from '../config/dsl.js';
import { formatOption } from './formats.js';
import type { CommandName } from './renderer.js';
import type { EngineEvent } from '../engine/events.js';
import { errLine } from './output.js';

export interface CommonFlags {
  config?: string;
  /** apply and plan: --init-projections / --no-init-projections. */
  initProjections?: boolean;
  json?: boolean;
  format?: string;
  lockTimeout?: string;
  connectTimeout?: string;
}

/** A command with the options every command takes. */
export function withCommonOptions(name: CommandName): Command {
  return new Command(name)
    .option('-c, --config <path>', 'config file (default: zitadel.setup.ts, zsetup.config.{ts,mts,js,mjs}, .zsetuprc{,.json,.yaml} or package.json#zsetup in the working directory)')
    .addOption(formatOption(name))
    .option('--json', 'the same as --format json: line-delimited JSON on stdout, one object per line')
    .addOption(new Option('--lock-timeout <duration>', 'how long to wait for the lock (e.g. 30s, 5m) [env: ZSETUP_LOCK_TIMEOUT]'))
    .addOption(new Option('--connect-timeout <duration>', 'keep retrying the first connection this long while it is refused, times out or the server is starting (a missing database or role, a wrong password or SSL fails at once) [env: ZSETUP_CONNECT_TIMEOUT]'));
}

/** --init-projections / --no-init-projections (apply and plan): unset unless given. */
export function withProjectionOptions(c: Command): Command {
  return c
    .addOption(new Option('--init-projections', 'run projection prefill steps (the default) [env: ZSETUP_INIT_PROJECTIONS]'))
    .addOption(new Option('--no-init-projections', 'leave projection prefill steps out of this run (plan shows them as skipped, with the reason)').default(undefined));
}

/** Runs a command body and exits with the code it returns. */
export type Runner = (fn: () => Promise<number>) => Promise<void>;

/** What every command is built with: how it runs, and the plugins it starts with. */
export interface Cli {
  run: Runner;
  defaults: () => readonly Plugin[];
}

export function baseOptions(cli: Cli, flags: CommonFlags & { concurrency?: string; deadline?: string }): BaseOptions {
  return {
    defaults: cli.defaults(),
    configFile: flags.config,
    flags: { lockTimeout: flags.lockTimeout, connectTimeout: flags.connectTimeout, concurrency: flags.concurrency, deadline: flags.deadline, initProjections: flags.initProjections },
  };
}

/**
 * What the engine says while a command that shows no run gets to its answer (the embedded
 * PGlite initialising), on stderr: stdout is the answer (a table, JSON lines).
 */
export function logToStderr(e: EngineEvent): void {
  if (e.type === 'log') errLine({ secrets: [] }, `zsetup: ${e.message}`);
}
