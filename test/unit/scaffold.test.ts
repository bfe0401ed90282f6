/**
 * What `zsetup new` decides, in process: the name of a step from the words given (slugify),
 * the next number in a folder of SQL files and its padding, and the config line in each
 * config language. Through the CLI: test/cli/init.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configLine, MAX_SLUG, nextSqlFile, ScaffoldError, slugify } from '../../src/cli/scaffold.js';

test('slugify: lower case ASCII words joined by _, accents and ß folded', () => {
  assert.is(slugify(['add', 'users']), 'add_users');
  assert.is(slugify(['Add  Users!']), 'add_users');
  assert.is(slugify(['  --backfill', 'e-mails--  ']), 'backfill_e_mails');
  assert.is(slugify(['Café', 'Straße', 'Øre', 'Łódź']), 'cafe_strasse_ore_lodz');
  assert.is(slugify(['v2', '2024']), 'v2_2024');
  assert.is(slugify(['../../etc/passwd']), 'etc_passwd', 'no path survives');
  assert.is(slugify(['x'.repeat(MAX_SLUG)]), 'x'.repeat(MAX_SLUG));
});

test('slugify refuses a name with no letter or digit, and a too long one', () => {
  for (const words of [[], [''], ['!!!'], ['-', '_', '.'], ['日本語'], ['😀']]) {
    assert.throws(() => slugify(words), (e: unknown) => e instanceof ScaffoldError && e.code === 2 && /no letter or digit/.test(e.message), JSON.stringify(words));
  }
  assert.throws(() => slugify(['x'.repeat(MAX_SLUG + 1)]), (e: unknown) => e instanceof ScaffoldError && /too long/.test(e.message));
});

test('nextSqlFile: one above the highest number, padded as the widest number there', () => {
  const root = mkdtempSync(join(tmpdir(), 'zs-scaffold-'));
  const folder = (name: string, files: string[]) => {
    const d = join(root, name);
    mkdirSync(d, { recursive: true });
    for (const f of files) writeFileSync(join(d, f), '');
    return d;
  };
  try {
    const cases: [string[], string][] = [
      [[], '001_x'], // empty folder
      [['001_init.sql'], '002_x'],
      [['001_init.sql', '009_b.sql'], '010_x'],
      [['01_a.sql', '02_b.sql'], '03_x'],
      [['1_a.sql', '2_b.sql'], '3_x'],
      [['99_a.sql'], '100_x'], // outgrows its padding
      [['0001-a.sql', '7.sql'], '0008_x'],
      [['001_a.sql', '10_b.sql'], '011_x'], // mixed: the widest padding
      [['001_a.sql', 'README.md', 'seed.sql', '002_b.SQL', '003_c.sql.bak', 'x003_d.sql'], '003_x'], // only NNN*.sql (any case) counts
      [['20240101120000_a.sql'], '20240101120001_x'], // timestamps too
    ];
    cases.forEach(([files, stem], i) => {
      const d = folder(`c${i}`, files);
      const next = nextSqlFile(d, 'x');
      assert.is(next.stem, stem, files.join(' '));
      assert.is(next.file, join(d, `${stem}.sql`));
    });
    assert.is(nextSqlFile(join(root, 'missing'), 'x').stem, '001_x', 'a folder that does not exist yet');
    writeFileSync(join(root, 'file'), '');
    assert.throws(() => nextSqlFile(join(root, 'file'), 'x'), (e: unknown) => e instanceof ScaffoldError && /is not a folder/.test(e.message));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('configLine: a step() call in TypeScript and JavaScript, an object in JSON, an item in YAML', () => {
  for (const f of ['/p/zsetup.config.ts', '/p/zsetup.config.mjs', '/p/zitadel.setup.ts']) assert.is(configLine(f, '002_a', 'sql/002_a.sql'), "step('002_a', { sql: file('sql/002_a.sql') }),");
  for (const f of ['/p/.zsetuprc.json', '/p/package.json']) assert.is(configLine(f, '002_a', 'sql/002_a.sql'), '{ "name": "002_a", "file": "sql/002_a.sql" },');
  for (const f of ['/p/.zsetuprc.yaml', '/p/.zsetuprc']) assert.is(configLine(f, '002_a', 'sql/002_a.sql'), '- { name: "002_a", file: "sql/002_a.sql" }');
});

test.run();
