/**
 * Proof of the schema: zitadel.setup.ts applied on a fresh database (the real CLI,
 * --no-init-projections) leaves the schema that ZITADEL's own SQL leaves, as described in
 * test/fixtures/zitadel-schema.txt (built from ZITADEL's source: its header says how; zsetup's
 * own schema is left out). The description covers function bodies (md5 of the body without
 * comments), volatility, strictness, security, parallel safety, SET options, ROWS/COST, view
 * definitions (md5) and table options too, so a wrong body or option fails here. On
 * PostgreSQL and on the embedded PGlite (PostgreSQL 18). Print the diff of any database with
 * `node scripts/schema.mjs --url URL --diff test/fixtures/zitadel-schema.txt`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { PGlite } from '@electric-sql/pglite';
import { ROOT, cli, dbSuite, scratch, type DbCtx } from '../helpers.js';
// @ts-expect-error: a plain ES module of scripts/, without types
import { describeSchema, diffLines } from '../../scripts/schema.mjs';

const t = dbSuite('zitadel: the schema of zitadel.setup.ts = ZITADEL\'s');

const expected = readFileSync(join(ROOT, 'test/fixtures/zitadel-schema.txt'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.startsWith('#'));

function same(actual: string[], want: string[], where: string): void {
  const { onlyA, onlyB } = diffLines(actual, want) as { onlyA: string[]; onlyB: string[] };
  const text = [...onlyB.map((l) => `- ${l}   (ZITADEL's, missing)`), ...onlyA.map((l) => `+ ${l}   (zsetup's, not ZITADEL's)`)].join('\n');
  assert.ok(onlyA.length + onlyB.length === 0, `${where}: ${onlyB.length} missing, ${onlyA.length} extra:\n${text}`);
}

t('PostgreSQL: zitadel.setup.ts leaves the schema ZITADEL\'s SQL leaves, line for line', async (ctx: DbCtx) => {
  const a = await cli(['apply', '--no-init-projections'], { cwd: ROOT, url: ctx.db.url });
  assert.is(a.code, 0, a.stdout + a.stderr);
  const lines = (await describeSchema((sql: string) => ctx.db.query(sql))) as string[];
  assert.ok(lines.length > 600, `described ${lines.length} lines`);
  same(lines, expected, 'PostgreSQL');
});

t('PGlite: the same, but for the name PostgreSQL 18 gives the foreign key of a partition and how it deparses a view', async () => {
  // zitadel.setup.ts with a data dir of the test's own (its steps name their SQL files by path).
  const d = scratch({
    'zsetup.config.ts': `import { defineConfig } from 'zsetup';
import zitadel from ${JSON.stringify(join(ROOT, 'zitadel.setup.js'))};
export default defineConfig({ ...zitadel, database: { pglite: { dataDir: 'pgdata' } } });
`,
  });
  try {
    const a = await cli(['apply', '--no-init-projections'], { cwd: d.dir });
    assert.is(a.code, 0, a.stdout + a.stderr);
    assert.match(a.stdout, /on pglite:pgdata/);
    const db = new PGlite(join(d.dir, 'pgdata'));
    let lines: string[];
    try {
      lines = (await describeSchema(async (sql: string) => (await db.query(sql)).rows)) as string[];
    } finally {
      await db.close();
    }
    // Two things PostgreSQL 18 writes differently from 15, the rest is compared as it is:
    // - a foreign key to a partition is named by PostgreSQL (15: <table>_<columns>_fkey; 18: fk_<...>_<n>);
    // - a view's deparsed text: 16 and later leave out qualifiers a column does not need
    //   (`instance_id`, 15: `fields.instance_id`), so the hash of the whole text differs. Each
    //   viewdef line also has the hash of the text without qualifiers ('unqualified'): that one
    //   is compared here (it still catches another column, condition, join or expression).
    const pg18 = (l: string) =>
      l
        .replace(/^(constraint \S+) \S+ (FOREIGN KEY .* REFERENCES \S+_default\()/, '$1 <name> $2')
        .replace(/^(viewdef \S+) md5:\S+ (unqualified md5:\S+)$/, '$1 $2');
    same(lines.map(pg18), expected.map(pg18), 'PGlite');
  } finally {
    d.remove();
  }
});

t.run();
