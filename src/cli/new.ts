import { dirname, resolve } from 'node:path';
import { Command } from './commander.js';
import type { Cli } from './common.js';
import { EXIT } from './exit.js';
import { failed } from './init.js';
import { line, type Out } from './output.js';
import { configFor, configLine, importsFile, newSqlText, nextSqlFile, pathFromConfig, shown, slugify, writeNew } from './scaffold.js';

const out: Out = { secrets: [] };

export function newCommand(cli: Cli): Command {
  return new Command('new')
    .description('write the next numbered SQL file (e.g. sql/002_add_users.sql) and print the line that adds its step to the config (the config is not edited)')
    .argument('<name...>', 'what the step does, in a few words (zsetup new add users); made lower case, words joined by _')
    .option('-c, --config <path>', 'the config to print the line for (default: the one zsetup would load from this folder)')
    .option('--dir <path>', 'the folder of the SQL files (default: sql/ beside the config)')
    .addHelpText(
      'after',
      `
  The number is one above the highest in the folder, with as many digits as the numbers
  there (001 when there is none). The file holds a comment and no statement yet: apply
  refuses it (exit 2, naming the file) until you write the step's SQL.`,
    )
    .action((words: string[], flags: { config?: string; dir?: string }) =>
      cli.run(async () => {
        const cwd = process.cwd();
        try {
          const slug = slugify(words);
          const config = configFor(cwd, flags.config);
          const sqlDir = flags.dir !== undefined ? resolve(cwd, flags.dir) : resolve(dirname(config), 'sql');
          const show = (p: string) => shown(cwd, p);
          const next = nextSqlFile(sqlDir, slug, show);
          writeNew(next.file, newSqlText(next.stem, shown(dirname(config), config)), show);
          line(out, `wrote ${shown(cwd, next.file)}`);
          line(out, `Write its SQL, then add this line to the steps in ${shown(cwd, config)}, after the last one:\n`);
          line(out, `    ${configLine(config, next.stem, pathFromConfig(config, next.file))}\n`);
          if (!importsFile(config)) line(out, `(${shown(cwd, config)} does not import file yet: import { file } from 'zsetup')`);
          return EXIT.ok;
        } catch (err) {
          return failed(err);
        }
      }),
    );
}
