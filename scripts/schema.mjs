#!/usr/bin/env node
// scripts/schema.mjs: a database's schema as sorted lines of text, for comparing two
// databases (zsetup's zitadel.setup.ts against ZITADEL's own SQL) on PostgreSQL and PGlite.
//
// Lines: schemas; tables (partitioned, unlogged, reloptions as `with (…)`); partitions;
// columns with type, nullability, default and generation expression; constraints (primary
// key, unique, foreign key, check, exclusion) with their definition; indexes with their
// definition (valid or not); views with their columns and a `viewdef` line of hashes;
// functions and procedures with arguments, result, language, volatility, strict, security
// definer, parallel, leakproof, SET options (proconfig), ROWS/COST when not the default and
// `body md5:` of the body; enum and composite types; sequences; triggers. zsetup's own
// schema (`zsetup`, or --exclude) and the system schemas are left out. ZITADEL's text never
// appears: bodies and view definitions only as md5 hashes.
//
// Normalised so that the same schema gives the same lines however it was written:
// - a body's hash is of prosrc without SQL comments (`--`, nested `/* */`; not inside '…',
//   E'…', "…" or a nested $q$…$q$), whitespace runs as one space, trimmed (normBody).
//   Approximation: whitespace inside literals is collapsed too.
// - a view's `viewdef <v> md5:<a> unqualified md5:<b>`: <a> hashes pg_get_viewdef(oid, true)
//   with whitespace collapsed. PostgreSQL 16+ (PGlite is 18) deparse without the qualifiers a
//   column does not need, 15 with them, so <a> differs across those versions; <b> hashes the
//   text with every `name.` qualifier removed (outside literals) and is the same on both.
//   Compare <b> alone across versions (test/zitadel/schema.test.ts does on PGlite).
// - a foreign key that PostgreSQL clones onto a partition gets a version-dependent name.
//
//   node scripts/schema.mjs --url postgres://...            print the description
//   node scripts/schema.mjs --pglite DIR                     the same for a PGlite data dir
//   node scripts/schema.mjs --url ... --diff expected.txt    print what differs (exit 1 if anything)
//
// Also a module: describeSchema(query, { exclude }) -> string[] (query: (sql) => rows);
// diffLines(a, b); normBody(src), the body normalisation that is hashed.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const SYSTEM = ['pg_catalog', 'information_schema', 'pg_toast'];

/** The schema of the database `query` reads, as sorted lines. */
export async function describeSchema(query, { exclude = ['zsetup'] } = {}) {
  const skip = [...SYSTEM, ...exclude];
  const inSchemas = (col) => `${col} NOT IN (${skip.map((s) => `'${s.replace(/'/g, "''")}'`).join(', ')}) AND ${col} NOT LIKE 'pg_temp%' AND ${col} NOT LIKE 'pg_toast_temp%'`;
  const lines = [];
  const add = (rows, f) => {
    for (const r of rows) lines.push(f(r));
  };
  add(await query(`SELECT nspname AS n FROM pg_namespace WHERE ${inSchemas('nspname')}`), (r) => `schema ${r.n}`);
  add(
    await query(`SELECT n.nspname || '.' || c.relname AS t, c.relkind AS k, c.relpersistence AS p, c.reloptions AS opts
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND ${inSchemas('n.nspname')} AND NOT c.relispartition`),
    (r) => `${{ r: 'table', p: 'table', v: 'view', m: 'materialized view', S: 'sequence' }[r.k]} ${r.t}${r.k === 'p' ? ' partitioned' : ''}${r.p === 'u' ? ' unlogged' : ''}${withOptions(r.opts)}`,
  );
  add(
    await query(`SELECT n.nspname || '.' || c.relname AS t, pg_get_viewdef(c.oid, true) AS def
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind IN ('v', 'm') AND ${inSchemas('n.nspname')}`),
    (r) => `viewdef ${r.t} md5:${md5(norm(r.def))} unqualified md5:${md5(unqualified(norm(r.def)))}`,
  );
  add(
    await query(`SELECT n.nspname || '.' || c.relname AS t, c.relpersistence AS p, pg_get_expr(c.relpartbound, c.oid) AS bound, pc.relname AS parent, c.reloptions AS opts
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class pc ON pc.oid = i.inhparent
                  WHERE c.relispartition AND ${inSchemas('n.nspname')}`),
    (r) => `partition ${r.t} of ${r.parent} ${r.bound}${r.p === 'u' ? ' unlogged' : ''}${withOptions(r.opts)}`,
  );
  add(
    await query(`SELECT n.nspname || '.' || c.relname AS t, a.attname AS col, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS nn,
                        pg_get_expr(d.adbin, d.adrelid) AS def, a.attgenerated AS gen, c.relkind AS k
                   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                  WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'c') AND ${inSchemas('n.nspname')} AND NOT c.relispartition`),
    (r) =>
      `${r.k === 'c' ? 'attribute' : 'column'} ${r.t}.${r.col} ${r.type}${r.nn ? ' not null' : ''}${r.def !== null ? (r.gen ? ` generated (${norm(r.def)})` : ` default ${norm(r.def)}`) : ''}`,
  );
  add(
    await query(`SELECT n.nspname || '.' || c.relname AS t, con.conname AS name, con.contype AS type, pg_get_constraintdef(con.oid) AS def
                   FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE ${inSchemas('n.nspname')} AND con.contype IN ('p', 'u', 'f', 'c', 'x') AND NOT c.relispartition`),
    (r) => `constraint ${r.t} ${r.name} ${norm(r.def)}`,
  );
  add(
    await query(`SELECT n.nspname || '.' || t.relname AS t, i.relname AS name, pg_get_indexdef(x.indexrelid) AS def, x.indisvalid AS valid
                   FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
                  WHERE ${inSchemas('n.nspname')} AND NOT t.relispartition`),
    (r) => `index ${r.t} ${r.name} ${norm(r.def.replace(/^CREATE (UNIQUE )?INDEX \S+ ON (ONLY )?\S+ /, (_m, u) => (u ? 'UNIQUE ' : '')))}${r.valid ? '' : ' INVALID'}`,
  );
  add(
    await query(`SELECT n.nspname || '.' || p.proname AS f, pg_get_function_identity_arguments(p.oid) AS args, pg_get_function_result(p.oid) AS result, l.lanname AS lang, p.prokind AS kind,
                        p.provolatile AS vol, p.proisstrict AS strict, p.prosecdef AS secdef, p.proparallel AS par, p.proleakproof AS leakproof,
                        p.proconfig AS config, p.proretset AS retset, p.prorows::text AS rows, p.procost::text AS cost, p.prosrc AS src,
                        CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_function_sqlbody(p.oid) END AS sqlbody
                   FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
                  WHERE ${inSchemas('n.nspname')}`),
    (r) => {
      const attrs = [
        `language ${r.lang}`,
        { i: 'immutable', s: 'stable', v: 'volatile' }[r.vol],
        r.strict ? 'strict' : '',
        r.secdef ? 'security definer' : '',
        `parallel ${{ s: 'safe', r: 'restricted', u: 'unsafe' }[r.par]}`,
        r.leakproof ? 'leakproof' : '',
        r.config?.length ? `set (${pgArray(r.config).join(', ')})` : '',
        // Defaults as CREATE FUNCTION sets them: ROWS 1000 for a set-returning function (else 0),
        // COST 1 for C and internal functions (else 100).
        Number(r.rows) !== (r.retset ? 1000 : 0) ? `rows ${Number(r.rows)}` : '',
        Number(r.cost) !== (['c', 'internal'].includes(r.lang) ? 1 : 100) ? `cost ${Number(r.cost)}` : '',
        r.sqlbody !== null && r.sqlbody !== undefined ? `sql body md5:${md5(norm(r.sqlbody))}` : `body md5:${md5(normBody(r.src))}`,
      ].filter(Boolean);
      return `${r.kind === 'p' ? 'procedure' : 'function'} ${r.f}(${r.args})${r.result ? ` returns ${r.result}` : ''} ${attrs.join(' ')}`;
    },
  );
  add(
    await query(`SELECT n.nspname || '.' || t.typname AS t, t.typtype AS k, (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) AS labels
                   FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                  WHERE ${inSchemas('n.nspname')} AND (t.typtype = 'e' OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))`),
    (r) => `type ${r.t} ${r.k === 'e' ? `enum (${r.labels})` : 'composite'}`,
  );
  add(
    await query(`SELECT n.nspname || '.' || c.relname AS t, g.tgname AS name, pg_get_triggerdef(g.oid) AS def
                   FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE NOT g.tgisinternal AND ${inSchemas('n.nspname')}`),
    (r) => `trigger ${r.t} ${r.name} ${norm(r.def.replace(/^CREATE (CONSTRAINT )?TRIGGER \S+ /, ''))}`,
  );
  return [...new Set(lines)].sort();
}

/** Whitespace as one space. */
function norm(s) {
  return String(s).replace(/\s+/g, ' ').trim();
}

function md5(s) {
  return createHash('md5').update(s, 'utf8').digest('hex');
}

/**
 * A deparsed view without qualifiers (`fields.instance_id` -> `instance_id`,
 * `eventstore.fields` -> `fields`), outside '…' literals. PostgreSQL 16 and later leave out
 * the qualifier of a column that needs none (PGlite is 18), 15 writes it: this form is the
 * same on both, so PGlite's description is compared by it (test/zitadel/schema.test.ts).
 */
function unqualified(def) {
  return def
    .split(/('(?:[^']|'')*')/)
    .map((part, i) => (i % 2 ? part : part.replace(/(?<![\w$."])(?:(?:[A-Za-z_][\w$]*|"(?:[^"]|"")+")\.)+(?=[A-Za-z_"])/g, '')))
    .join('');
}

/** A text[] as pg or PGlite returns it (an array, or the literal `{a,"b c"}`), as strings. */
function pgArray(v) {
  if (Array.isArray(v)) return v.map(String);
  const s = String(v).replace(/^\{|\}$/g, '');
  const out = [];
  for (const m of s.matchAll(/"((?:[^"\\]|\\.)*)"|([^,]+)/g)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
  return out;
}

/** `with (a=1, b=2)` for reloptions, '' for none. */
function withOptions(opts) {
  return opts && pgArray(opts).length ? ` with (${pgArray(opts).sort().join(', ')})` : '';
}

/**
 * A function body (prosrc) without SQL comments, whitespace runs as one space, trimmed.
 * `--` to the end of the line and `/* *\/` (nested) become one space; they are left alone
 * inside '…' (E'…' with backslash escapes), "…" and nested dollar-quoted strings ($q$…$q$),
 * which are copied as they are. Approximations: whitespace is collapsed inside literals too
 * (a literal that differs only in a run of whitespace is not told apart); the scanner does
 * not know the plpgsql grammar beyond these tokens (a `$x$` inside a literal is skipped
 * with the literal, which is right; standard_conforming_strings is assumed on).
 */
export function normBody(src) {
  const s = String(src ?? '');
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    const next = s[i + 1];
    if (c === '-' && next === '-') {
      const e = s.indexOf('\n', i);
      i = e < 0 ? s.length : e;
      out += ' ';
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < s.length && depth > 0) {
        if (s[i] === '/' && s[i + 1] === '*') (depth++, (i += 2));
        else if (s[i] === '*' && s[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
      out += ' ';
    } else if (c === "'") {
      const escapes = /[eE]/.test(s[i - 1] ?? '') && !/[A-Za-z0-9_]/.test(s[i - 2] ?? '');
      let j = i + 1;
      while (j < s.length) {
        if (escapes && s[j] === '\\') j += 2;
        else if (s[j] === "'" && s[j + 1] === "'") j += 2;
        else if (s[j] === "'") break;
        else j++;
      }
      out += s.slice(i, j + 1);
      i = j + 1;
    } else if (c === '"') {
      let j = i + 1;
      while (j < s.length && !(s[j] === '"' && s[j + 1] !== '"')) j += s[j] === '"' ? 2 : 1;
      out += s.slice(i, j + 1);
      i = j + 1;
    } else if (c === '$' && !/[A-Za-z0-9_$]/.test(s[i - 1] ?? '') && /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.test(s.slice(i))) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(s.slice(i))[0];
      const e = s.indexOf(tag, i + tag.length);
      const end = e < 0 ? s.length : e + tag.length;
      out += s.slice(i, end);
      i = end;
    } else {
      out += c;
      i++;
    }
  }
  return norm(out);
}

/** Lines only in `a`, lines only in `b`. */
export function diffLines(a, b) {
  const sa = new Set(a);
  const sb = new Set(b);
  return { onlyA: a.filter((x) => !sb.has(x)), onlyB: b.filter((x) => !sa.has(x)) };
}

async function main() {
  const arg = (n) => {
    const i = process.argv.indexOf(n);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const url = arg('--url');
  const dataDir = arg('--pglite');
  const exclude = (arg('--exclude') ?? 'zsetup').split(',');
  let query;
  let close;
  if (url) {
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    query = async (sql) => (await c.query(sql)).rows;
    close = () => c.end();
  } else if (dataDir) {
    const { PGlite } = await import('@electric-sql/pglite');
    const db = new PGlite(dataDir);
    query = async (sql) => (await db.query(sql)).rows;
    close = () => db.close();
  } else {
    console.error('usage: node scripts/schema.mjs --url URL | --pglite DIR [--exclude schema,...] [--diff expected.txt]');
    process.exit(2);
  }
  try {
    const lines = await describeSchema(query, { exclude });
    const expected = arg('--diff');
    if (!expected) {
      console.log(lines.join('\n'));
      return;
    }
    const want = readFileSync(expected, 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    const { onlyA, onlyB } = diffLines(lines, want);
    for (const l of onlyB) console.log(`- ${l}   (expected, missing here)`);
    for (const l of onlyA) console.log(`+ ${l}   (here, not expected)`);
    console.log(`${onlyB.length} missing, ${onlyA.length} extra, ${lines.length - onlyA.length} the same`);
    process.exitCode = onlyA.length + onlyB.length > 0 ? 1 : 0;
  } finally {
    await close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
