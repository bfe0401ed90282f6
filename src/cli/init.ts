import { isAbsolute, join, resolve } from 'node:path';
import { Command } from './commander.js';
import type { Cli } from './common.js';
import { EXIT } from './exit.js';
import { errLine, line, type Out } from './output.js';
import { INIT_FILES, initProject, ScaffoldError, shown, TEMPLATE_DIR } from './scaffold.js';

const out: Out = { secrets: [] };

export function initCommand(cli: Cli): Command {
  return new Command('init')
    .description('start a project: zsetup.config.ts, sql/001_init.sql and a Kubernetes Job in deploy/ (never overwrites a file without --force)')
    .option('--dir <path>', 'the project folder to write into (created if missing)', '.')
    .option('--force', 'overwrite the files init writes where they exist (it never touches anything else)')
    .addHelpText(
      'after',
      `
  Writes ${INIT_FILES.map((f) => f.path).join(', ')}:
  the project of zsetup's examples/kubernetes/, whose Dockerfile builds the image the Job
  runs. When one of them exists, or another config zsetup would load, init lists them and
  exits 2 without writing anything.`,
    )
    .action((flags: { dir: string; force?: boolean }) =>
      cli.run(async () => {
        const cwd = process.cwd();
        const dir = resolve(cwd, flags.dir);
        let r;
        try {
          r = initProject(dir, flags.force === true, (p) => shown(cwd, p));
        } catch (err) {
          return failed(err);
        }
        const width = Math.max(...r.written.map((w) => shown(cwd, w.file).length));
        for (const w of r.written) line(out, `${w.overwritten ? 'overwrote' : 'wrote'} ${shown(cwd, w.file).padEnd(width)}  ${w.what}`);
        if (r.shadowedBy) errLine(out, `zsetup: note: ${shown(cwd, r.shadowedBy)} is a config too, and zsetup loads it first: remove it, or pass --config ${shown(cwd, join(dir, 'zsetup.config.ts'))}`);
        const dockerfile = shown(cwd, join(TEMPLATE_DIR, 'Dockerfile'));
        const steps: [string, string][] = [
          ...(dir === cwd ? [] : [[`cd ${shown(cwd, dir)}`, ''] as [string, string]]),
          ['npx zsetup plan', 'what apply would run (on ZSETUP_DATABASE_URL, or unset an embedded PGlite in .zsetup/pglite)'],
          ['npx zsetup apply', 'run it'],
          ['npx zsetup new add users', 'the next SQL file, and the line that adds it to zsetup.config.ts'],
        ];
        const cmdWidth = Math.max(...steps.map(([c]) => c.length));
        line(out, '\nNext:');
        for (const [c, why] of steps) line(out, why ? `  ${c.padEnd(cmdWidth)}  ${why}` : `  ${c}`);
        line(out, `\nAdd .zsetup/ to .gitignore (the embedded database). The image the Job runs: see ${isAbsolute(dockerfile) || dockerfile.startsWith('../') ? join(TEMPLATE_DIR, 'Dockerfile') : dockerfile} and the README.md beside it.`);
        return EXIT.ok;
      }),
    );
}

/** A ScaffoldError as the other commands print errors: one line, a hint, no stack. */
export function failed(err: unknown): number {
  if (!(err instanceof ScaffoldError)) throw err;
  errLine(out, `zsetup: ${err.message}`);
  if (err.hint) errLine(out, `hint: ${err.hint}`);
  return err.code;
}
