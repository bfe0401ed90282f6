/**
 * Folding: the row changes of a batch of events become a few multi-row statements whose
 * result is exactly that of applying the changes one by one.
 *
 * Changes by primary key are kept in an overlay, one entry per (table, key), whose state
 * says what the batch did to that row so far:
 * - `updated`: columns set on a row that may or may not exist (UPDATE; no row: nothing);
 * - `inserted`: the row as it must end up (INSERT; after a DELETE when the batch deleted
 *   it first, which the DELETE pass does);
 * - `upserted`: INSERT ... ON CONFLICT DO UPDATE of the columns the upserts and later
 *   updates set, with the combined row as `excluded`;
 * - `deleted`: DELETE (and in the overlay, the rows of its child tables go with it, as
 *   `ON DELETE CASCADE` does on the server).
 * A flush writes, per table, one statement per kind and column set: first every DELETE
 * (parent tables first: the server cascades to children), then every UPDATE (a row the
 * batch neither inserted nor deleted), then every INSERT and upsert (parent tables first,
 * so a child's parent exists). Why this order is exact: the states of one key exclude each
 * other; an UPDATE only touches rows the batch did not otherwise write, so it commutes
 * with the other keys' writes, except through a cascade, where both orders leave the
 * child gone.
 *
 * What cannot be folded exactly ends the segment: changes by other columns
 * (`deleteWhere`, `updateWhere`: the rows of a removed org) flush what came before and go
 * as their own statement; so does an insert or upsert over a row the batch only updated
 * (whether it existed decides the result). A change that must fail (an insert over a row
 * the batch inserted) throws `FoldConflict`: the caller then applies that batch one event
 * at a time, where the failing event is found and recorded as ZITADEL does.
 */
import { quoteLiteral } from '../../src/plugin.js';
import { isCopyOf, type Change, type Row, type TableSpec } from './model.js';

/** One statement with `$1` parameters. */
export interface Statement {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/** A statement with its parameters (text, numbers, booleans, null) written in as literals, to go in a script. */
export function inline(st: Statement): string {
  return st.sql.replace(/\$(\d+)/g, (_m, n: string) => quoteLiteral(st.params[Number(n) - 1] as string | number | boolean | null | undefined));
}

/** The batch cannot be folded: some event's change must fail on its own. */
export class FoldConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FoldConflict';
  }
}

/** What the batch did to one row so far; `key` is the row's primary key columns. */
type Entry =
  | { state: 'updated'; key: Row; set: Record<string, unknown> }
  | { state: 'inserted'; key: Row; row: Record<string, unknown>; deletedFirst: boolean }
  | { state: 'upserted'; key: Row; row: Record<string, unknown>; update: Set<string> }
  | { state: 'deleted'; key: Row };

interface TableInfo {
  readonly spec: TableSpec;
  readonly ident: string;
  readonly types: ReadonlyMap<string, string>;
  /** Position in parent-first order. */
  readonly depth: number;
  readonly children: TableInfo[];
  /**
   * This table's key text is its parent's key text: the foreign key is the primary key, in
   * the order of the parent's primary key (users14_humans (instance_id, user_id) ->
   * users14 (instance_id, id)).
   */
  keyIsParentKey: boolean;
}

/** `projections.users14` -> `"projections"."users14"`. */
export function quoteTable(name: string): string {
  const dot = name.indexOf('.');
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return dot < 0 ? q(name) : `${q(name.slice(0, dot))}.${q(name.slice(dot + 1))}`;
}

export function quoteColumn(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A value as JSON for jsonb_to_recordset: dates as ISO text, bigint as text. */
function jsonValue(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'bigint') return v.toString();
  return v === undefined ? null : v;
}

/** A value as JSON text (what `JSON.stringify(jsonValue(v))` gives, without the detours). */
function jsonText(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined || v === null) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (v instanceof Date) return `"${v.toISOString()}"`;
  if (typeof v === 'bigint') return `"${v}"`;
  return JSON.stringify(v);
}

/**
 * A key value as text: two values the server takes as the same key value give the same text
 * (the key columns of ZITADEL's projections are text; `1` and `'1'` are one row there).
 */
function keyText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}

/** Whether two values are the same value for the server (null is no value). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === undefined || a === null || b === undefined || b === null) return (a === undefined || a === null) && (b === undefined || b === null);
  return keyText(a) === keyText(b);
}

/** The tables of one or more projections, checked and ordered parents first. */
export class Tables {
  private readonly byName = new Map<string, TableInfo>();

  constructor(specs: readonly TableSpec[]) {
    const depthOf = (t: TableSpec, seen: Set<string> = new Set()): number => {
      if (!t.parent) return 0;
      if (seen.has(t.name)) throw new Error(`table ${t.name}: its parent chain loops`);
      seen.add(t.name);
      const parent = specs.find((p) => p.name === t.parent!.table);
      if (!parent) throw new Error(`table ${t.name}: its parent ${t.parent.table} is not declared`);
      return depthOf(parent, seen) + 1;
    };
    for (const spec of specs) {
      const types = new Map(spec.columns.map((c) => [c.name, c.type] as const));
      for (const k of spec.primaryKey) if (!types.has(k)) throw new Error(`table ${spec.name}: primary key column ${k} is not declared`);
      this.byName.set(spec.name, { spec, ident: quoteTable(spec.name), types, depth: depthOf(spec), children: [], keyIsParentKey: false });
    }
    for (const t of this.byName.values()) {
      const fk = t.spec.parent;
      if (!fk) continue;
      const parent = this.byName.get(fk.table)!;
      parent.children.push(t);
      const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((c, i) => c === b[i]);
      t.keyIsParentKey = same(fk.columns, t.spec.primaryKey) && same(fk.references, parent.spec.primaryKey);
    }
  }

  get(name: string): TableInfo {
    const t = this.byName.get(name);
    if (!t) throw new Error(`no table ${name} in this projection (declared: ${[...this.byName.keys()].join(', ')})`);
    return t;
  }

  /** Parents first. */
  ordered(): TableInfo[] {
    return [...this.byName.values()].sort((a, b) => a.depth - b.depth);
  }

  typeOf(t: TableInfo, column: string): string {
    const type = t.types.get(column);
    if (type === undefined) throw new Error(`table ${t.spec.name} has no column ${column}`);
    return type;
  }
}

/** `x(a text, b bigint)` for jsonb_to_recordset. */
function recordType(tables: Tables, t: TableInfo, columns: readonly string[]): string {
  return `x(${columns.map((c) => `${quoteColumn(c)} ${tables.typeOf(t, c)}`).join(', ')})`;
}

/**
 * The rows as a JSON array of objects with `columns` (absent values are null). Rows that hold
 * exactly those columns, as the folder groups them, are written as they are (dates become ISO
 * text, as jsonValue does); a BigInt needs the slow way.
 */
function rowsParam(columns: readonly string[], rows: readonly Row[], exact = false): string {
  if (exact) {
    try {
      return JSON.stringify(rows);
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
    }
  }
  const names = columns.map((c) => `${JSON.stringify(c)}:`);
  const out = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    let o = '{';
    for (let j = 0; j < columns.length; j++) o += (j === 0 ? '' : ',') + names[j] + jsonText(r[columns[j]!]);
    out[i] = `${o}}`;
  }
  return `[${out.join(',')}]`;
}

/**
 * The statement of one change on its own, as ZITADEL's handler writes it (handler.NewCreate-,
 * NewUpdate-, NewUpsert-, NewDeleteStatement: one row, plain parameters): the per-event path
 * and the reference loop.
 */
export function changeStatement(tables: Tables, change: Change): Statement {
  const t = tables.get(change.table);
  const params: unknown[] = [];
  // A json column takes the value's JSON text (a string too), as jsonb_to_recordset and unnest do.
  const p = (v: unknown, c: string) => {
    const type = tables.typeOf(t, c);
    return `$${params.push(isJson(type) && v !== undefined && v !== null ? jsonText(v) : jsonValue(v))}::${type}`;
  };
  const cond = (row: Row) => {
    const cols = Object.keys(row);
    return cols.length === 0 ? 'true' : cols.map((c) => `${quoteColumn(c)} = ${p(row[c], c)}`).join(' AND ');
  };
  switch (change.op) {
    case 'insert':
    case 'upsert': {
      const cols = Object.keys(change.row);
      const values = cols.map((c) => `${p(change.row[c], c)}`).join(', ');
      const sql = `INSERT INTO ${t.ident} AS t (${cols.map(quoteColumn).join(', ')}) VALUES (${values})`;
      if (change.op === 'insert') return { sql, params };
      const update = change.update ?? nonKey(t, cols);
      const set = update.length === 0 ? 'NOTHING' : `UPDATE SET ${update.map((c) => `${quoteColumn(c)} = excluded.${quoteColumn(c)}`).join(', ')}`;
      return { sql: `${sql} ON CONFLICT (${t.spec.primaryKey.map(quoteColumn).join(', ')}) DO ${set}`, params };
    }
    case 'update':
    case 'updateWhere': {
      // A copy reads the row as it was before the statement (SET sees the old row).
      const set = Object.entries(change.set)
        .map(([c, v]) => (isCopyOf(v) ? (tables.typeOf(t, v.copyOf), `${quoteColumn(c)} = t.${quoteColumn(v.copyOf)}`) : `${quoteColumn(c)} = ${p(v, c)}`))
        .join(', ');
      if (set === '') return { sql: 'SELECT 1 WHERE false', params: [] }; // nothing to set
      return { sql: `UPDATE ${t.ident} AS t SET ${set} WHERE ${cond(change.op === 'update' ? change.key : change.where)}`, params };
    }
    case 'delete':
    case 'deleteWhere':
      return { sql: `DELETE FROM ${t.ident} WHERE ${cond(change.op === 'delete' ? change.key : change.where)}`, params };
  }
}

function nonKey(t: TableInfo, columns: readonly string[]): string[] {
  return columns.filter((c) => !t.spec.primaryKey.includes(c));
}

/**
 * The rows as the relation `x(columns)`: unnest of one array per column, written as array
 * literals (the server parses each value once, with its column's input function: -20% time
 * per insert against jsonb_to_recordset, measured). A column of an array type goes through
 * jsonb_to_recordset instead (unnest flattens arrays of arrays).
 */
function rowsSource(tables: Tables, t: TableInfo, columns: readonly string[], rows: readonly Row[]): { from: string; params: unknown[] } {
  const types = columns.map((c) => tables.typeOf(t, c));
  if (types.some((ty) => /\[|\barray\b/i.test(ty))) return { from: `jsonb_to_recordset($1::jsonb) AS ${recordType(tables, t, columns)}`, params: [rowsParam(columns, rows, true)] };
  const arrays = columns.map((c, j) => {
    const json = isJson(types[j]!);
    let a = '{';
    for (let i = 0; i < rows.length; i++) {
      const v = elementText(rows[i]![c], json);
      a += (i === 0 ? '' : ',') + (v === null ? 'NULL' : `"${v.replace(/[\\"]/g, '\\$&')}"`);
    }
    return `${a}}`;
  });
  return { from: `unnest(${types.map((ty, j) => `$${j + 1}::${ty}[]`).join(', ')}) AS x(${columns.map(quoteColumn).join(', ')})`, params: arrays };
}

function isJson(type: string): boolean {
  return /^\s*jsonb?\s*$/i.test(type);
}

/** A value as an array element's text (null: SQL NULL); for a json column, its JSON text, as jsonb_to_recordset takes it. */
function elementText(v: unknown, json: boolean): string | null {
  if (v === undefined || v === null) return null;
  if (json) return jsonText(v);
  if (typeof v === 'string') return v;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function insertStatement(tables: Tables, t: TableInfo, columns: readonly string[], rows: readonly Row[]): Statement {
  const cols = columns.map(quoteColumn).join(', ');
  const { from, params } = rowsSource(tables, t, columns, rows);
  return { sql: `INSERT INTO ${t.ident} (${cols}) SELECT ${cols} FROM ${from}`, params };
}

function upsertStatement(tables: Tables, t: TableInfo, columns: readonly string[], update: readonly string[], rows: readonly Row[]): Statement {
  const cols = columns.map(quoteColumn).join(', ');
  const key = t.spec.primaryKey.map(quoteColumn).join(', ');
  const set = update.length === 0 ? 'NOTHING' : `UPDATE SET ${update.map((c) => `${quoteColumn(c)} = excluded.${quoteColumn(c)}`).join(', ')}`;
  const { from, params } = rowsSource(tables, t, columns, rows);
  return { sql: `INSERT INTO ${t.ident} AS t (${cols}) SELECT ${cols} FROM ${from} ON CONFLICT (${key}) DO ${set}`, params };
}

/** An update's literal values, and its copies (column -> the column it copies). */
function splitCopies(set: Row): { values: Record<string, unknown>; copies: Record<string, string> } {
  const values: Record<string, unknown> = {};
  const copies: Record<string, string> = {};
  for (const [c, v] of Object.entries(set)) {
    if (isCopyOf(v)) copies[c] = v.copyOf;
    else values[c] = v;
  }
  return { values, copies };
}

function updateStatement(tables: Tables, t: TableInfo, set: readonly string[], rows: readonly Row[], copies: Readonly<Record<string, string>> = {}): Statement {
  const key = t.spec.primaryKey;
  const columns = [...key, ...set.filter((c) => !key.includes(c))];
  // A copy reads the row as it was before this statement (SET sees the old row).
  const assign = [
    ...set.map((c) => `${quoteColumn(c)} = x.${quoteColumn(c)}`),
    ...Object.entries(copies).map(([c, from]) => (tables.typeOf(t, from), `${quoteColumn(c)} = t.${quoteColumn(from)}`)),
  ];
  const { from, params } = rowsSource(tables, t, columns, rows);
  return { sql: `UPDATE ${t.ident} AS t SET ${assign.join(', ')} FROM ${from} WHERE ${key.map((k) => `t.${quoteColumn(k)} = x.${quoteColumn(k)}`).join(' AND ')}`, params };
}

function deleteStatement(tables: Tables, t: TableInfo, keys: readonly Row[]): Statement {
  const key = t.spec.primaryKey;
  const { from, params } = rowsSource(tables, t, key, keys);
  return { sql: `DELETE FROM ${t.ident} AS t USING ${from} WHERE ${key.map((k) => `t.${quoteColumn(k)} = x.${quoteColumn(k)}`).join(' AND ')}`, params };
}

/** Changes in, folded statements out: `add` each change in order, then `flush`. */
export class Folder {
  /** table -> key text -> entry (insertion order kept). */
  private overlay = new Map<string, Map<string, Entry>>();
  private readonly out: Statement[] = [];
  /** Deletes by other columns folded into the segment: they run first when it is written. */
  private deletesWhere: Statement[] = [];

  constructor(private readonly tables: Tables) {}

  add(change: Change): void {
    const t = this.tables.get(change.table);
    if (change.op === 'deleteWhere' && this.foldDeleteWhere(t, change.where)) {
      this.deletesWhere.push(changeStatement(this.tables, change));
      return;
    }
    if (change.op === 'deleteWhere' || change.op === 'updateWhere') {
      this.endSegment();
      this.out.push(changeStatement(this.tables, change));
      return;
    }
    const keyRow = change.op === 'insert' || change.op === 'upsert' ? change.row : change.key;
    const key = this.keyOf(t, keyRow);
    const entries = this.entries(t);
    const entry = entries.get(key);
    switch (change.op) {
      case 'insert': {
        const inserted = (deletedFirst: boolean): Entry => ({ state: 'inserted', key: this.keyRow(t, keyRow), row: { ...change.row }, deletedFirst });
        if (entry === undefined) entries.set(key, inserted(false));
        else if (entry.state === 'deleted') entries.set(key, inserted(true));
        else if (entry.state === 'updated') {
          this.endSegment();
          this.entries(t).set(key, inserted(false));
        } else throw new FoldConflict(`${t.spec.name}: a row with key ${JSON.stringify(entry.key)} is inserted twice`);
        return;
      }
      case 'upsert': {
        const update = change.update ?? nonKey(t, Object.keys(change.row));
        const upserted = (): Entry => ({ state: 'upserted', key: this.keyRow(t, keyRow), row: { ...change.row }, update: new Set(update) });
        if (entry === undefined) entries.set(key, upserted());
        else if (entry.state === 'deleted') entries.set(key, { state: 'inserted', key: entry.key, row: { ...change.row }, deletedFirst: true });
        else if (entry.state === 'updated') {
          this.endSegment();
          this.entries(t).set(key, upserted());
        } else {
          // The row is there now: the upsert updates `update` from its row.
          for (const c of update) entry.row[c] = change.row[c];
          if (entry.state === 'upserted') for (const c of update) entry.update.add(c);
        }
        return;
      }
      case 'update': {
        if (entry === undefined) return void entries.set(key, { state: 'updated', key: this.keyRow(t, keyRow), set: { ...change.set } });
        if (entry.state === 'deleted') return; // no row: nothing happens.
        // Copies take the value the row has now, when the overlay knows it.
        const known = (col: string): { value: unknown } | undefined => {
          if (entry.state === 'updated') return col in entry.set ? { value: entry.set[col] } : undefined;
          if (entry.state === 'upserted' && !entry.update.has(col)) return undefined; // an existing row keeps its own value
          return col in entry.row ? { value: entry.row[col] } : undefined;
        };
        const set: Record<string, unknown> = {};
        for (const c in change.set) {
          const v = change.set[c];
          if (!isCopyOf(v)) set[c] = v;
          else {
            const k = known(v.copyOf);
            if (k) set[c] = k.value;
            else if (entry.state === 'updated') set[c] = v; // copied from the stored row at flush
            else {
              // The overlay cannot say (an upserted row that existed): what came before is written first.
              this.endSegment();
              this.entries(t).set(key, { state: 'updated', key: entry.key, set: { ...change.set } });
              return;
            }
          }
        }
        // A pending copy and a later change of its source merge safely: an UPDATE's SET reads
        // the row as it was before it (verified = t.last, last = 'new' copies the old value).
        if (entry.state === 'updated') Object.assign(entry.set, set);
        else if (entry.state === 'inserted') Object.assign(entry.row, set);
        else {
          Object.assign(entry.row, set);
          for (const c in set) entry.update.add(c);
        }
        return;
      }
      case 'delete': {
        const k = entry?.key ?? this.keyRow(t, keyRow);
        entries.set(key, { state: 'deleted', key: k });
        this.cascade(t, key, k);
        return;
      }
    }
  }

  /**
   * A delete by other columns (the users of a removed org) folded into the segment, when
   * running it before the segment's other writes gives the same result: the rows the overlay
   * holds are matched here (and their children go too); a row the overlay does not hold is
   * deleted by the statement, which then runs first, and a later update finds no row, as it
   * would have. Not folded (false) when the result depends on a stored row the overlay does
   * not know: a pending update of a column the delete matches on, an upserted row, or a child
   * row inserted under a parent the overlay does not hold.
   */
  private foldDeleteWhere(t: TableInfo, where: Row): boolean {
    const cols = Object.keys(where);
    const entries = this.overlay.get(t.spec.name) ?? new Map<string, Entry>();
    for (const e of entries.values()) {
      if (e.state === 'upserted') return false;
      if (e.state === 'updated' && cols.some((c) => c in e.set)) return false;
    }
    for (const child of t.children) {
      // Grandchildren: not folded (no projection here has them).
      if (child.children.length > 0) return false;
      const fk = child.spec.parent!;
      for (const [k, e] of this.overlay.get(child.spec.name) ?? []) {
        if (e.state !== 'inserted' && e.state !== 'upserted') continue;
        let parentKey = k;
        if (!child.keyIsParentKey) {
          const ref = Object.fromEntries(fk.references.map((r, i) => [r, e.row[fk.columns[i]!]]));
          if (fk.references.some((r) => ref[r] === undefined || ref[r] === null)) continue; // no parent: no cascade
          parentKey = this.keyOf(t, ref);
        }
        if (entries.get(parentKey)?.state !== 'inserted') return false;
      }
    }
    const gone: Array<[string, Row]> = [];
    for (const [k, e] of entries) {
      if (e.state !== 'inserted' || !cols.every((c) => sameValue(e.row[c], where[c]))) continue;
      entries.set(k, { state: 'deleted', key: e.key });
      gone.push([k, e.key]);
    }
    for (const [k, row] of gone) this.cascade(t, k, row);
    return true;
  }

  /** The statements for everything added so far (the overlay starts empty again). */
  flush(): Statement[] {
    this.endSegment();
    return this.out.splice(0);
  }

  private entries(t: TableInfo): Map<string, Entry> {
    let m = this.overlay.get(t.spec.name);
    if (!m) this.overlay.set(t.spec.name, (m = new Map()));
    return m;
  }

  /** The key's text: its columns' values as the server compares them, joined by NUL (which no text value holds). */
  private keyOf(t: TableInfo, row: Row): string {
    const pk = t.spec.primaryKey;
    let key = '';
    for (let i = 0; i < pk.length; i++) {
      const v = row[pk[i]!];
      if (v === undefined || v === null) throw new Error(`${t.spec.name}: key column ${pk[i]} is missing in a change`);
      key += i === 0 ? keyText(v) : `\u0000${keyText(v)}`;
    }
    return key;
  }

  /** The key columns of a row. */
  private keyRow(t: TableInfo, row: Row): Row {
    const out: Record<string, unknown> = {};
    for (const k of t.spec.primaryKey) out[k] = row[k];
    return out;
  }

  /** A parent row deleted: its children in the overlay go too (the server cascades the rest). */
  private cascade(parent: TableInfo, parentKeyText: string, parentKey: Row): void {
    for (const child of parent.children) {
      const map = this.overlay.get(child.spec.name);
      if (!map) continue;
      const fk = child.spec.parent!;
      const gone: Array<[string, Row]> = [];
      if (child.keyIsParentKey) {
        // The usual shape: one lookup instead of a scan of the child's rows.
        const e = map.get(parentKeyText);
        if (e !== undefined) {
          map.set(parentKeyText, { state: 'deleted', key: e.key });
          if (e.state !== 'deleted') gone.push([parentKeyText, e.key]);
        }
      } else {
        const match = (row: Row) => fk.columns.every((c, i) => sameValue(row[c], parentKey[fk.references[i]!]));
        for (const [k, e] of map) {
          const row = e.state === 'inserted' || e.state === 'upserted' ? e.row : e.state === 'updated' ? e.key : undefined;
          if (row && match(row)) {
            map.set(k, { state: 'deleted', key: e.key });
            gone.push([k, e.key]);
          }
        }
      }
      // Their own children go with them.
      for (const [k, row] of gone) this.cascade(child, k, row);
    }
  }

  private endSegment(): void {
    const tables = this.tables.ordered();
    // 0. Deletes by other columns folded into this segment: before everything else.
    this.out.push(...this.deletesWhere.splice(0));
    const byColumns = <T>(rows: T[], cols: (r: T) => readonly string[]) => {
      const groups = new Map<string, { cols: readonly string[]; rows: T[] }>();
      for (const r of rows) {
        const c = cols(r);
        const sig = c.join('\u0000');
        let g = groups.get(sig);
        if (!g) groups.set(sig, (g = { cols: c, rows: [] }));
        g.rows.push(r);
      }
      return [...groups.values()];
    };
    // 1. Deletes, parents first.
    for (const t of tables) {
      const keys: Row[] = [];
      for (const e of this.overlay.get(t.spec.name)?.values() ?? []) if (e.state === 'deleted' || (e.state === 'inserted' && e.deletedFirst)) keys.push(e.key);
      if (keys.length > 0) this.out.push(deleteStatement(this.tables, t, keys));
    }
    // 2. Updates of rows the batch did not otherwise write.
    for (const t of tables) {
      const rows: Array<{ key: Row; set: Record<string, unknown> }> = [];
      for (const e of this.overlay.get(t.spec.name)?.values() ?? []) if (e.state === 'updated' && Object.keys(e.set).length > 0) rows.push(e);
      const sig = (r: { set: Record<string, unknown> }) => Object.entries(r.set).map(([c, v]) => (isCopyOf(v) ? `${c}=t.${v.copyOf}` : c)).sort();
      for (const g of byColumns(rows, sig)) {
        const { values, copies } = splitCopies(g.rows[0]!.set);
        const cols = Object.keys(values).sort();
        this.out.push(updateStatement(this.tables, t, cols, g.rows.map((r) => ({ ...splitCopies(r.set).values, ...r.key })), copies));
      }
    }
    // 3. Inserts and upserts, parents first.
    for (const t of tables) {
      const inserts: Record<string, unknown>[] = [];
      const upserts: Array<{ row: Record<string, unknown>; update: string[] }> = [];
      for (const e of this.overlay.get(t.spec.name)?.values() ?? []) {
        if (e.state === 'inserted') inserts.push(e.row);
        else if (e.state === 'upserted') upserts.push({ row: e.row, update: [...e.update].sort() });
      }
      // Grouped by their columns as listed (a reducer lists them in one order).
      for (const g of byColumns(inserts, (r) => Object.keys(r))) this.out.push(insertStatement(this.tables, t, g.cols, g.rows));
      for (const g of byColumns(upserts, (r) => [...Object.keys(r.row), '\u0001', ...r.update])) {
        const cols = Object.keys(g.rows[0]!.row);
        this.out.push(upsertStatement(this.tables, t, cols, g.rows[0]!.update, g.rows.map((r) => r.row)));
      }
    }
    this.overlay = new Map();
  }
}
