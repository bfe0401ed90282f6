import { Option, type Command } from 'commander';
import type { BaseOptions } from '../api.js';
import type { Out } from './output.js';

export interface CommonFlags {
  config?: string;
  json?: boolean;
  lockTimeout?: string;
  connectTimeout?: string;
}

/** The options every command takes. */
export function withCommonOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <path>', 'config file (default: zitadel.setup.ts, zsetup.config.{ts,mts,js,mjs}, .zsetuprc{,.json,.yaml} or package.json#zsetup in the working directory)')
    .option('--json', 'line-delimited JSON on stdout, one object per line')
    .addOption(new Option('--lock-timeout <duration>', 'how long to wait for the lock (e.g. 30s, 5m) [env: ZSETUP_LOCK_TIMEOUT]'))
    .addOption(new Option('--connect-timeout <duration>', 'keep retrying the first connection this long [env: ZSETUP_CONNECT_TIMEOUT]'));
}

export interface RunContext {
  signal: AbortSignal;
  /** Which signal stopped us, if any (for the exit code). */
  stoppedBy(): NodeJS.Signals | undefined;
}

export function baseOptions(flags: CommonFlags & { concurrency?: string }, ctx: RunContext): BaseOptions {
  return {
    configFile: flags.config,
    signal: ctx.signal,
    flags: { lockTimeout: flags.lockTimeout, connectTimeout: flags.connectTimeout, concurrency: flags.concurrency },
  };
}

export function outOf(flags: CommonFlags): Out {
  return { json: Boolean(flags.json), secrets: envSecrets() };
}

/** The password of ZSETUP_DATABASE_URL, so no output can show it (config URLs: see the API). */
function envSecrets(): string[] {
  const url = process.env.ZSETUP_DATABASE_URL;
  if (!url) return [];
  try {
    const pw = new URL(url).password;
    return pw ? [pw, decodeURIComponent(pw)] : [];
  } catch {
    return [];
  }
}
