/**
 * Folding is exact: random sequences of row changes (inserts, upserts, updates and deletes
 * by key, deletes and updates by another column, a child table with ON DELETE CASCADE),
 * applied one statement at a time and folded into multi-row statements, leave the same
 * rows, on real PostgreSQL, starting from rows the changes do not know about.
 */
import * as assert from 'uvu/assert';
import { dbSuite } from '../helpers.js';
import { Folder, FoldConflict, Tables, changeStatement, inline } from '../../plugins/projections/fold.js';
import { copyOf, type Change, type TableSpec } from '../../plugins/projections/model.js';
import pg from 'pg';
// @ts-expect-error: plain ES modules of scripts/, without types
import { mulberry32 } from '../../scripts/prng.mjs';

const t = dbSuite('projections: folding');

const specs = (schema: string): TableSpec[] => [
  {
    name: `${schema}.parent`,
    columns: [
      { name: 'instance_id', type: 'text' },
      { name: 'id', type: 'text' },
      { name: 'owner', type: 'text' },
      { name: 'name', type: 'text', default: "''" },
      { name: 'n', type: 'bigint', nullable: true },
      { name: 'at', type: 'timestamptz', nullable: true },
    ],
    primaryKey: ['instance_id', 'id'],
  },
  {
    name: `${schema}.child`,
    columns: [
      { name: 'instance_id', type: 'text' },
      { name: 'user_id', type: 'text' },
      { name: 'email', type: 'text', default: "''" },
      { name: 'v', type: 'boolean', default: 'false' },
      { name: 'last', type: 'text', nullable: true },
      { name: 'verified', type: 'text', nullable: true },
    ],
    primaryKey: ['instance_id', 'user_id'],
    parent: { table: `${schema}.parent`, columns: ['instance_id', 'user_id'], references: ['instance_id', 'id'] },
  },
  // A child whose key is not its reference to the parent (the cascade scans for it).
  {
    name: `${schema}.note`,
    columns: [
      { name: 'instance_id', type: 'text' },
      { name: 'note_id', type: 'text' },
      { name: 'user_id', type: 'text' },
      { name: 'body', type: 'text', default: "''" },
    ],
    primaryKey: ['instance_id', 'note_id'],
    parent: { table: `${schema}.parent`, columns: ['instance_id', 'user_id'], references: ['instance_id', 'id'] },
  },
];

function ddl(schema: string): string {
  return `DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema};
CREATE TABLE ${schema}.parent (instance_id text NOT NULL, id text NOT NULL, owner text NOT NULL, name text NOT NULL DEFAULT '', n bigint, at timestamptz, PRIMARY KEY (instance_id, id));
CREATE TABLE ${schema}.child (instance_id text NOT NULL, user_id text NOT NULL, email text NOT NULL DEFAULT '', v boolean NOT NULL DEFAULT false, last text, verified text, PRIMARY KEY (instance_id, user_id),
  FOREIGN KEY (instance_id, user_id) REFERENCES ${schema}.parent (instance_id, id) ON DELETE CASCADE);
CREATE TABLE ${schema}.note (instance_id text NOT NULL, note_id text NOT NULL, user_id text NOT NULL, body text NOT NULL DEFAULT '', PRIMARY KEY (instance_id, note_id),
  FOREIGN KEY (instance_id, user_id) REFERENCES ${schema}.parent (instance_id, id) ON DELETE CASCADE);`;
}

/** mulberry32: the same seed, the same sequence. */
const rng: (seed: number) => () => number = mulberry32;

function randomChanges(r: () => number, schema: string, n: number): Change[] {
  const pick = <T>(a: readonly T[]) => a[Math.floor(r() * a.length)]!;
  const inst = () => pick(['i1', 'i2']);
  const id = () => pick(['a', 'b', 'c', 'd', 'e']);
  const owner = () => pick(['o1', 'o2', 'o3']);
  const P = `${schema}.parent`;
  const C = `${schema}.child`;
  const out: Change[] = [];
  for (let i = 0; i < n; i++) {
    const k = { instance_id: inst(), id: id() };
    const ck = { instance_id: k.instance_id, user_id: k.id };
    const N = `${schema}.note`;
    if (r() < 0.12) {
      const nk = { instance_id: k.instance_id, note_id: pick(['n1', 'n2', 'n3']) };
      const y = r();
      if (y < 0.5) out.push({ op: 'insert', table: N, row: { ...nk, user_id: id(), ...(r() < 0.5 ? { body: `b${i}` } : {}) } });
      else if (y < 0.75) out.push({ op: 'update', table: N, key: nk, set: { body: `c${i}` } });
      else out.push({ op: 'delete', table: N, key: nk });
      continue;
    }
    const x = r();
    if (x < 0.18) out.push({ op: 'insert', table: P, row: { ...k, owner: owner(), ...(r() < 0.5 ? { name: `n${i}` } : {}), n: i, at: new Date(1_700_000_000_000 + i * 1000) } });
    else if (x < 0.3) out.push({ op: 'insert', table: C, row: { ...ck, ...(r() < 0.5 ? { email: `e${i}` } : {}) } });
    else if (x < 0.38) out.push({ op: 'upsert', table: P, row: { ...k, owner: owner(), name: `u${i}`, n: i }, ...(r() < 0.5 ? { update: ['name'] } : {}) });
    else if (x < 0.58) out.push({ op: 'update', table: P, key: k, set: r() < 0.5 ? { name: `m${i}` } : { n: i, at: new Date(1_700_000_000_000 - i) } });
    else if (x < 0.64) out.push({ op: 'update', table: C, key: ck, set: r() < 0.5 ? { email: `x${i}` } : { v: r() < 0.5 } });
    // ZITADEL's copy of one column into another (verified_email = last_email), and changes of the source.
    else if (x < 0.67) out.push({ op: 'update', table: C, key: ck, set: r() < 0.5 ? { last: `l${i}` } : { last: `l${i}`, verified: copyOf('last') } });
    else if (x < 0.7) out.push({ op: 'update', table: C, key: ck, set: { verified: copyOf('last'), ...(r() < 0.3 ? { v: true } : {}) } });
    else if (x < 0.8) out.push({ op: 'delete', table: P, key: k });
    else if (x < 0.86) out.push({ op: 'delete', table: C, key: ck });
    else if (x < 0.93) out.push({ op: 'deleteWhere', table: P, where: { instance_id: inst(), owner: owner() } });
    else out.push({ op: 'updateWhere', table: P, where: { owner: owner() }, set: { name: `w${i}` } });
  }
  return out;
}

/** Apply one by one, each under a savepoint; the indexes of the changes that failed. */
async function sequential(c: pg.Client, tables: Tables, changes: Change[]): Promise<number[]> {
  const failed: number[] = [];
  await c.query('BEGIN');
  for (let i = 0; i < changes.length; i++) {
    const st = changeStatement(tables, changes[i]!);
    await c.query('SAVEPOINT s');
    try {
      await c.query(st.sql, st.params as unknown[]);
      await c.query('RELEASE SAVEPOINT s');
    } catch {
      await c.query('ROLLBACK TO SAVEPOINT s');
      failed.push(i);
    }
  }
  await c.query('COMMIT');
  return failed;
}

async function seedRows(c: pg.Client, schema: string, r: () => number): Promise<void> {
  for (const inst of ['i1', 'i2'])
    for (const id of ['a', 'b', 'c', 'd', 'e']) {
      if (r() < 0.5) continue;
      await c.query(`INSERT INTO ${schema}.parent VALUES ($1, $2, $3, 'seed', 0, NULL)`, [inst, id, ['o1', 'o2', 'o3'][Math.floor(r() * 3)]]);
      if (r() < 0.6) await c.query(`INSERT INTO ${schema}.child VALUES ($1, $2, 'seed@x', true, 'seedlast', NULL)`, [inst, id]);
      if (r() < 0.3) await c.query(`INSERT INTO ${schema}.note VALUES ($1, $2, $3, 'seed') ON CONFLICT DO NOTHING`, [inst, `n${1 + Math.floor(r() * 3)}`, id]);
    }
}

const dump = async (c: pg.Client, schema: string) =>
  JSON.stringify([
    (await c.query(`SELECT * FROM ${schema}.parent ORDER BY instance_id, id`)).rows,
    (await c.query(`SELECT * FROM ${schema}.child ORDER BY instance_id, user_id`)).rows,
    (await c.query(`SELECT * FROM ${schema}.note ORDER BY instance_id, note_id`)).rows,
  ]);

t('random change sequences: folded statements leave the same rows as one statement per change', async (ctx) => {
  const c = new pg.Client({ connectionString: ctx.db.url });
  await c.connect();
  try {
    const seqTables = new Tables(specs('f_seq'));
    const foldTables = new Tables(specs('f_fold'));
    let folded = 0;
    let statements = 0;
    let changesTotal = 0;
    // Fixed cases first: a child inserted under a stored parent, then the parent's rows deleted
    // by owner (the removed org's users); the same with the parent inserted in the batch.
    const P = 'X.parent';
    const C = 'X.child';
    const fixed: Change[][] = [
      [
        { op: 'insert', table: C, row: { instance_id: 'i1', user_id: 'a', email: 'c@x' } },
        { op: 'deleteWhere', table: P, where: { instance_id: 'i1', owner: 'o1' } },
      ],
      [
        { op: 'insert', table: P, row: { instance_id: 'i1', id: 'z', owner: 'o1' } },
        { op: 'insert', table: C, row: { instance_id: 'i1', user_id: 'z' } },
        { op: 'update', table: C, key: { instance_id: 'i1', user_id: 'b' }, set: { email: 'before' } },
        { op: 'deleteWhere', table: P, where: { instance_id: 'i1', owner: 'o1' } },
        { op: 'update', table: C, key: { instance_id: 'i1', user_id: 'b' }, set: { email: 'after' } },
        { op: 'insert', table: P, row: { instance_id: 'i1', id: 'z', owner: 'o2' } },
      ],
    ];
    const seedFixed = async (schema: string) => {
      await c.query(`INSERT INTO ${schema}.parent VALUES ('i1', 'a', 'o1', 'seed', 0, NULL), ('i1', 'b', 'o1', 'seed', 0, NULL), ('i1', 'c', 'o2', 'seed', 0, NULL)`);
      await c.query(`INSERT INTO ${schema}.child VALUES ('i1', 'b', 'seed@x', true, 'l', NULL), ('i1', 'c', 'seed@x', true, 'l', NULL)`);
    };
    for (const [n, changes] of fixed.entries()) {
      const at = (schema: string) => changes.map((ch) => ({ ...ch, table: ch.table.replace('X.', `${schema}.`) }) as Change);
      await c.query(ddl('f_seq'));
      await seedFixed('f_seq');
      assert.equal(await sequential(c, seqTables, at('f_seq')), [], `fixed case ${n} runs one by one`);
      await c.query(ddl('f_fold'));
      await seedFixed('f_fold');
      const folder = new Folder(foldTables);
      for (const ch of at('f_fold')) folder.add(ch);
      await c.query('BEGIN');
      for (const st of folder.flush()) await c.query(st.sql, st.params as unknown[]);
      await c.query('COMMIT');
      assert.is(await dump(c, 'f_fold'), await dump(c, 'f_seq'), `fixed case ${n}`);
    }
    for (let trial = 0; trial < 150; trial++) {
      let changes = randomChanges(rng(trial + 1), 'X', 5 + (trial % 40));
      const at = (schema: string) => changes.map((ch) => ({ ...ch, table: ch.table.replace('X.', `${schema}.`) }) as Change);
      // Keep only changes that succeed one by one (a failing one is the per-event path's case).
      for (let round = 0; ; round++) {
        await c.query(ddl('f_seq'));
        await seedRows(c, 'f_seq', rng(1000 + trial));
        const failed = await sequential(c, seqTables, at('f_seq'));
        if (failed.length === 0) break;
        assert.ok(round < 50, 'the failing changes are removed');
        changes = changes.filter((_, i) => !failed.includes(i));
      }
      await c.query(ddl('f_fold'));
      await seedRows(c, 'f_fold', rng(1000 + trial));
      const folder = new Folder(foldTables);
      for (const ch of at('f_fold')) folder.add(ch);
      const out = folder.flush();
      await c.query('BEGIN');
      for (const st of out) await c.query(st.sql, st.params as unknown[]);
      await c.query('COMMIT');
      assert.is(await dump(c, 'f_fold'), await dump(c, 'f_seq'), `trial ${trial}: ${JSON.stringify(changes)}`);
      folded++;
      statements += out.length;
      changesTotal += changes.length;
    }
    assert.is(folded, 150);
    assert.ok(statements < changesTotal, `fewer statements (${statements}) than changes (${changesTotal})`);
  } finally {
    await c.end();
  }
});

t('an insert over a row the batch inserted cannot be folded: FoldConflict', () => {
  const tables = new Tables(specs('f'));
  const f = new Folder(tables);
  f.add({ op: 'insert', table: 'f.parent', row: { instance_id: 'i', id: 'a', owner: 'o' } });
  assert.throws(() => f.add({ op: 'insert', table: 'f.parent', row: { instance_id: 'i', id: 'a', owner: 'o' } }), (e: unknown) => e instanceof FoldConflict);
});

t('1,000 users added then changed fold into one statement per table and column set', () => {
  const tables = new Tables(specs('f'));
  const f = new Folder(tables);
  for (let i = 0; i < 1000; i++) {
    f.add({ op: 'insert', table: 'f.parent', row: { instance_id: 'i', id: `u${i}`, owner: 'o', name: 'x' } });
    f.add({ op: 'insert', table: 'f.child', row: { instance_id: 'i', user_id: `u${i}`, email: `${i}@x` } });
    f.add({ op: 'update', table: 'f.child', key: { instance_id: 'i', user_id: `u${i}` }, set: { v: true } });
  }
  assert.is(f.flush().length, 2);
});

t('awkward values survive folding, inlined as the prefill sends them: quotes, backslashes, braces, "NULL", empty, unicode, jsonb, text[], microseconds', async (ctx) => {
  const spec: TableSpec[] = [
    {
      name: 'f_odd.t',
      columns: [
        { name: 'instance_id', type: 'text' },
        { name: 'id', type: 'text' },
        { name: 's', type: 'text', nullable: true },
        { name: 'j', type: 'jsonb', nullable: true },
        { name: 'tags', type: 'text[]', nullable: true },
        { name: 'at', type: 'timestamptz', nullable: true },
        { name: 'n', type: 'bigint', nullable: true },
        { name: 'b', type: 'boolean', nullable: true },
      ],
      primaryKey: ['instance_id', 'id'],
    },
  ];
  const odd = ['', 'NULL', 'null', "it's", 'back\\slash', 'quo"te', '{a,b}', 'a,b', ' lead and trail ', 'new\nline\ttab', 'ünïcødé ✓ 𝄞', '\\"', "''", '$1'];
  const tables = new Tables(spec);
  const changes: Change[] = [];
  odd.forEach((v, i) => {
    const row = { instance_id: 'i', id: `k${v}`, s: v, j: i % 3 === 0 ? { v, n: i } : i % 3 === 1 ? v : null, at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)), n: i, b: i % 2 === 0 };
    changes.push({ op: 'insert', table: 'f_odd.t', row });
  });
  // The same values as keys of updates and deletes, and set by them.
  changes.push({ op: 'update', table: 'f_odd.t', key: { instance_id: 'i', id: 'kit\'s' }, set: { s: 'back\\slash"' } });
  changes.push({ op: 'update', table: 'f_odd.t', key: { instance_id: 'i', id: 'k{a,b}' }, set: { s: null, j: ['x', { y: 'z"' }] } });
  changes.push({ op: 'delete', table: 'f_odd.t', key: { instance_id: 'i', id: 'kquo"te' } });
  const c = new pg.Client({ connectionString: ctx.db.url });
  await c.connect();
  try {
    const ddl = `DROP SCHEMA IF EXISTS f_odd CASCADE; CREATE SCHEMA f_odd;
      CREATE TABLE f_odd.t (instance_id text NOT NULL, id text NOT NULL, s text, j jsonb, tags text[], at timestamptz, n bigint, b boolean, PRIMARY KEY (instance_id, id))`;
    const rows = async () => JSON.stringify((await c.query(`SELECT * FROM f_odd.t ORDER BY instance_id, id`)).rows);
    // A text[] column goes another way (unnest would flatten it): rows with it, then without.
    const withTags = changes.map((ch, i) => (ch.op === 'insert' ? { ...ch, row: { ...ch.row, tags: i % 2 ? ['a', 'b,"c"', 'NULL'] : [] } } : ch));
    for (const set of [changes, withTags]) {
      await c.query(ddl);
      await c.query('BEGIN');
      for (const ch of set) {
        const st = changeStatement(tables, ch);
        await c.query(st.sql, st.params as unknown[]);
      }
      await c.query('COMMIT');
      const expected = await rows();
      await c.query(ddl);
      const folder = new Folder(tables);
      for (const ch of set) folder.add(ch);
      const script = folder.flush().map(inline).join(';\n');
      await c.query(`BEGIN; ${script}; COMMIT`);
      assert.is(await rows(), expected);
    }
  } finally {
    await c.end();
  }
});

t.run();
