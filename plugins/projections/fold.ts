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
import { isCopyOf, type Change, type Row, type TableSpec } from './model.js';

/** One statement with `$1` parameters. */
export interface Statement {
  readonly sql: string;
  readonly params: readonly unknown[];
}

/** The batch cannot be folded: some event's change must fail on its own. */
export class FoldConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FoldConflict';
  }
}

type Entry =
  | { state: 'updated'; set: Record<string, unknown> }
  | { state: 'inserted'; row: Record<string, unknown>; deletedFirst: boolean }
  | { state: 'upserted'; row: Record<string, unknown>; update: Set<string> }
  | { state: 'deleted' };

interface TableInfo {
  readonly spec: TableSpec;
  readonly ident: string;
  readonly types: ReadonlyMap<string, string>;
  /** Position in parent-first order. */
  readonly depth: number;
  readonly children: TableInfo[];
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
      this.byName.set(spec.name, { spec, ident: quoteTable(spec.name), types, depth: depthOf(spec), children: [] });
    }
    for (const t of this.byName.values()) if (t.spec.parent) this.byName.get(t.spec.parent.table)!.children.push(t);
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

function rowsParam(columns: readonly string[], rows: readonly Row[]): string {
  return JSON.stringify(rows.map((r) => Object.fromEntries(columns.map((c) => [c, jsonValue(r[c])]))));
}

/** The statements of one change on its own (the per-event path, and the reference loop). */
export function changeStatement(tables: Tables, change: Change): Statement {
  const t = tables.get(change.table);
  switch (change.op) {
    case 'insert':
      return insertStatement(tables, t, Object.keys(change.row), [change.row]);
    case 'upsert':
      return upsertStatement(tables, t, Object.keys(change.row), change.update ?? nonKey(t, Object.keys(change.row)), [change.row]);
    case 'update': {
      const { values, copies } = splitCopies(change.set);
      return updateStatement(tables, t, Object.keys(values), [{ ...values, ...change.key }], copies);
    }
    case 'delete':
      return deleteStatement(tables, t, [change.key]);
    case 'deleteWhere':
    case 'updateWhere': {
      const where = Object.keys(change.where);
      const params: unknown[] = [];
      const cond = where.map((c) => `${quoteColumn(c)} = $${params.push(jsonValue(change.where[c]))}::${tables.typeOf(t, c)}`).join(' AND ');
      if (change.op === 'deleteWhere') return { sql: `DELETE FROM ${t.ident} WHERE ${cond || 'true'}`, params };
      const set = Object.keys(change.set)
        .map((c) => `${quoteColumn(c)} = $${params.push(jsonValue(change.set[c]))}::${tables.typeOf(t, c)}`)
        .join(', ');
      return { sql: `UPDATE ${t.ident} SET ${set} WHERE ${cond || 'true'}`, params };
    }
  }
}

function nonKey(t: TableInfo, columns: readonly string[]): string[] {
  return columns.filter((c) => !t.spec.primaryKey.includes(c));
}

function insertStatement(tables: Tables, t: TableInfo, columns: readonly string[], rows: readonly Row[]): Statement {
  const cols = columns.map(quoteColumn).join(', ');
  return { sql: `INSERT INTO ${t.ident} (${cols}) SELECT ${cols} FROM jsonb_to_recordset($1::jsonb) AS ${recordType(tables, t, columns)}`, params: [rowsParam(columns, rows)] };
}

function upsertStatement(tables: Tables, t: TableInfo, columns: readonly string[], update: readonly string[], rows: readonly Row[]): Statement {
  const cols = columns.map(quoteColumn).join(', ');
  const key = t.spec.primaryKey.map(quoteColumn).join(', ');
  const set = update.length === 0 ? 'NOTHING' : `UPDATE SET ${update.map((c) => `${quoteColumn(c)} = excluded.${quoteColumn(c)}`).join(', ')}`;
  return {
    sql: `INSERT INTO ${t.ident} AS t (${cols}) SELECT ${cols} FROM jsonb_to_recordset($1::jsonb) AS ${recordType(tables, t, columns)} ON CONFLICT (${key}) DO ${set}`,
    params: [rowsParam(columns, rows)],
  };
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
  return {
    sql: `UPDATE ${t.ident} AS t SET ${assign.join(', ')} FROM jsonb_to_recordset($1::jsonb) AS ${recordType(tables, t, columns)} WHERE ${key.map((k) => `t.${quoteColumn(k)} = x.${quoteColumn(k)}`).join(' AND ')}`,
    params: [rowsParam(columns, rows)],
  };
}

function deleteStatement(tables: Tables, t: TableInfo, keys: readonly Row[]): Statement {
  const key = t.spec.primaryKey;
  return {
    sql: `DELETE FROM ${t.ident} AS t USING jsonb_to_recordset($1::jsonb) AS ${recordType(tables, t, key)} WHERE ${key.map((k) => `t.${quoteColumn(k)} = x.${quoteColumn(k)}`).join(' AND ')}`,
    params: [rowsParam(key, keys)],
  };
}

/** Changes in, folded statements out: `add` each change in order, then `flush`. */
export class Folder {
  /** table -> key -> entry (insertion order kept). */
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
        if (entry === undefined) entries.set(key, { state: 'inserted', row: { ...change.row }, deletedFirst: false });
        else if (entry.state === 'deleted') entries.set(key, { state: 'inserted', row: { ...change.row }, deletedFirst: true });
        else if (entry.state === 'updated') {
          this.endSegment();
          this.entries(t).set(key, { state: 'inserted', row: { ...change.row }, deletedFirst: false });
        } else throw new FoldConflict(`${t.spec.name}: a row with key ${key} is inserted twice`);
        return;
      }
      case 'upsert': {
        const update = change.update ?? nonKey(t, Object.keys(change.row));
        if (entry === undefined) entries.set(key, { state: 'upserted', row: { ...change.row }, update: new Set(update) });
        else if (entry.state === 'deleted') entries.set(key, { state: 'inserted', row: { ...change.row }, deletedFirst: true });
        else if (entry.state === 'updated') {
          this.endSegment();
          this.entries(t).set(key, { state: 'upserted', row: { ...change.row }, update: new Set(update) });
        } else {
          // The row is there now: the upsert updates `update` from its row.
          for (const c of update) entry.row[c] = change.row[c];
          if (entry.state === 'upserted') for (const c of update) entry.update.add(c);
        }
        return;
      }
      case 'update': {
        if (entry === undefined) return void entries.set(key, { state: 'updated', set: { ...change.set } });
        if (entry.state === 'deleted') return; // no row: nothing happens.
        // Copies take the value the row has now, when the overlay knows it.
        const known = (col: string): { value: unknown } | undefined => {
          if (entry.state === 'updated') return col in entry.set ? { value: entry.set[col] } : undefined;
          if (entry.state === 'upserted' && !entry.update.has(col)) return undefined; // an existing row keeps its own value
          return col in entry.row ? { value: entry.row[col] } : undefined;
        };
        const set: Record<string, unknown> = {};
        for (const [c, v] of Object.entries(change.set)) {
          if (!isCopyOf(v)) set[c] = v;
          else {
            const k = known(v.copyOf);
            if (k) set[c] = k.value;
            else if (entry.state === 'updated') set[c] = v; // copied from the stored row at flush
            else {
              // The overlay cannot say (an upserted row that existed): what came before is written first.
              this.endSegment();
              this.entries(t).set(key, { state: 'updated', set: { ...change.set } });
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
          for (const c of Object.keys(set)) entry.update.add(c);
        }
        return;
      }
      case 'delete': {
        entries.set(key, { state: 'deleted' });
        this.cascade(t, change.key);
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
      const fk = child.spec.parent!;
      for (const e of this.overlay.get(child.spec.name)?.values() ?? []) {
        if (e.state !== 'inserted' && e.state !== 'upserted') continue;
        const parentKey = this.keyOf(t, Object.fromEntries(fk.references.map((r, i) => [r, e.row[fk.columns[i]!]])));
        const parent = entries.get(parentKey);
        if (parent?.state !== 'inserted') return false;
      }
      // Grandchildren: not folded (no projection here has them).
      if (child.children.length > 0) return false;
    }
    const same = (a: unknown, b: unknown) => JSON.stringify(jsonValue(a)) === JSON.stringify(jsonValue(b));
    const gone: Record<string, unknown>[] = [];
    for (const [k, e] of entries) {
      if (e.state !== 'inserted' || !cols.every((c) => same(e.row[c], where[c]))) continue;
      entries.set(k, { state: 'deleted' });
      gone.push(this.rowOfKey(t, k));
    }
    for (const row of gone) this.cascade(t, row);
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

  private keyOf(t: TableInfo, row: Row): string {
    const values = t.spec.primaryKey.map((k) => {
      const v = row[k];
      if (v === undefined || v === null) throw new Error(`${t.spec.name}: key column ${k} is missing in a change`);
      return jsonValue(v);
    });
    return JSON.stringify(values);
  }

  /** A parent row deleted: its children in the overlay go too (the server cascades the rest). */
  private cascade(parent: TableInfo, parentKey: Row): void {
    for (const child of parent.children) {
      const map = this.overlay.get(child.spec.name);
      const fk = child.spec.parent!;
      const match = (row: Record<string, unknown>) => fk.columns.every((c, i) => JSON.stringify(jsonValue(row[c])) === JSON.stringify(jsonValue(parentKey[fk.references[i]!])));
      if (!map) continue;
      const gone: Record<string, unknown>[] = [];
      // The usual shape: the child's key is its reference to the parent (users14_humans by
      // (instance_id, user_id)): one lookup instead of a scan of the child's rows.
      if (fk.columns.length === child.spec.primaryKey.length && fk.columns.every((c, i) => c === child.spec.primaryKey[i])) {
        const childKey = this.keyOf(child, Object.fromEntries(fk.columns.map((c, i) => [c, parentKey[fk.references[i]!]])));
        const e = map.get(childKey);
        if (e !== undefined) {
          map.set(childKey, { state: 'deleted' });
          if (e.state !== 'deleted') gone.push(this.rowOfKey(child, childKey));
        }
        for (const row of gone) this.cascade(child, row);
        continue;
      }
      for (const [k, e] of map) {
        const row = e.state === 'inserted' || e.state === 'upserted' ? e.row : e.state === 'updated' ? this.rowOfKey(child, k) : undefined;
        if (row && match(row)) {
          map.set(k, { state: 'deleted' });
          gone.push(row);
        }
      }
      // Their own children go with them.
      for (const row of gone) this.cascade(child, row);
    }
  }

  private rowOfKey(t: TableInfo, key: string): Record<string, unknown> {
    const values = JSON.parse(key) as unknown[];
    return Object.fromEntries(t.spec.primaryKey.map((k, i) => [k, values[i]]));
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
      for (const [k, e] of this.overlay.get(t.spec.name) ?? []) if (e.state === 'deleted' || (e.state === 'inserted' && e.deletedFirst)) keys.push(this.rowOfKey(t, k));
      if (keys.length > 0) this.out.push(deleteStatement(this.tables, t, keys));
    }
    // 2. Updates of rows the batch did not otherwise write.
    for (const t of tables) {
      const rows: Array<{ key: Row; set: Record<string, unknown> }> = [];
      for (const [k, e] of this.overlay.get(t.spec.name) ?? []) if (e.state === 'updated' && Object.keys(e.set).length > 0) rows.push({ key: this.rowOfKey(t, k), set: e.set });
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
      for (const e of (this.overlay.get(t.spec.name) ?? new Map<string, Entry>()).values()) {
        if (e.state === 'inserted') inserts.push(e.row);
        else if (e.state === 'upserted') upserts.push({ row: e.row, update: [...e.update].sort() });
      }
      for (const g of byColumns(inserts, (r) => Object.keys(r).sort())) this.out.push(insertStatement(this.tables, t, g.cols, g.rows));
      for (const g of byColumns(upserts, (r) => [...Object.keys(r.row).sort(), '\u0001', ...r.update])) {
        const cols = Object.keys(g.rows[0]!.row).sort();
        this.out.push(upsertStatement(this.tables, t, cols, g.rows[0]!.update, g.rows.map((r) => r.row)));
      }
    }
    this.overlay = new Map();
  }
}
