/**
 * The output formats `--format` can name. A new format is one file in ./render/ and one
 * line here; `--help` and the usage checks follow from this list.
 */
import { Option, type Command } from './commander.js';
import { EXIT } from './exit.js';
import type { Out } from './output.js';
import type { CommandName, Format, Renderer } from './renderer.js';
import { text } from './render/text.js';
import { json } from './render/json.js';
import { mermaid } from './render/mermaid.js';

export const FORMATS: Readonly<Record<string, Format>> = { text, json, mermaid };

/** `--format <name>` for `command`: the formats that can render it, with their descriptions. */
export function formatOption(command: CommandName): Option {
  const names = formatsOf(command);
  return new Option('--format <format>', `how to write the output: ${names.map((n) => `${n} ${FORMATS[n]!.description}`).join('; ')}`).choices(names);
}

/**
 * The renderer `--format` (or `--json`, its alias for `json`) asks for. A format the command
 * cannot render, or `--json` beside another format, is a usage error (exit 2) before any
 * work starts.
 *
 * Secrets need no listing in its `Out`: every password zsetup learns (from
 * ZSETUP_DATABASE_URL, PGPASSWORD or the config) is remembered and scrubbed by `redact`.
 */
export function rendererFor(cmd: Command, flags: { format?: string; json?: boolean }, command: CommandName, out: Out = { secrets: [] }): Renderer {
  if (flags.json && flags.format !== undefined && flags.format !== 'json') {
    cmd.error(`error: --json is --format json; it cannot go with --format ${flags.format}`, { exitCode: EXIT.usage, code: 'zsetup.format' });
  }
  const name = flags.format ?? (flags.json ? 'json' : 'text');
  const format = FORMATS[name]!;
  // Commander has refused it already (the choices of formatOption); kept for a caller that did not use it.
  if (!format.commands.includes(command)) {
    cmd.error(`error: ${command} cannot write --format ${name}; it writes ${formatsOf(command).join(', ')}`, { exitCode: EXIT.usage, code: 'zsetup.format' });
  }
  return format.create(out);
}

function formatsOf(command: CommandName): string[] {
  return Object.keys(FORMATS).filter((n) => FORMATS[n]!.commands.includes(command));
}
