/**
 * What a projection is, as the `projections` plugin reads it: its tables (ZITADEL's DDL
 * conventions), and a reducer per (aggregate type, event type) that turns one stored event
 * into row changes. Reducers are plain functions: they never send SQL. The engine folds
 * the changes of a batch of events into a few multi-row statements (fold.ts).
 */

/** A column of a projection table. */
export interface ColumnSpec {
  readonly name: string;
  /** An SQL type: text, bigint, smallint, boolean, timestamptz, numeric, jsonb, bytea, text[]. */
  readonly type: string;
  /** NOT NULL unless true (ZITADEL's convention). */
  readonly nullable?: boolean;
  /** An SQL default expression, e.g. `''`, `0`, `false`. */
  readonly default?: string;
  /**
   * A generated column: `GENERATED ALWAYS AS (<expression>) STORED`, computed by the server
   * (ZITADEL's setup step 25 adds `verified_email_lower` so). Reducers do not write it.
   */
  readonly generated?: string;
}

export interface IndexSpec {
  /** The index's suffix: the index is `<table>_<name>_idx` (ZITADEL's convention). */
  readonly name: string;
  /** The index's whole name where it does not follow the convention (one a setup step adds). */
  readonly fullName?: string;
  readonly columns: readonly string[];
}

/** A table of a projection (`projections.users14`, `projections.users14_humans`, ...). */
export interface TableSpec {
  /** Schema-qualified: `projections.users14_humans`. */
  readonly name: string;
  readonly columns: readonly ColumnSpec[];
  readonly primaryKey: readonly string[];
  /**
   * A child table: its `columns` reference the parent table's `references` with
   * `ON DELETE CASCADE` (a user's humans row goes with the user).
   */
  readonly parent?: { readonly table: string; readonly columns: readonly string[]; readonly references: readonly string[] };
  readonly indexes?: readonly IndexSpec[];
}

/** One event of `eventstore.events2`, as a reducer sees it. */
export interface StoredEvent {
  readonly instanceId: string;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly eventType: string;
  readonly sequence: number;
  /** `events2.position` (numeric), as text: exact. */
  readonly position: string;
  readonly inTxOrder: number;
  /**
   * `events2.created_at`. Exact to the microsecond as the event table has it: written into a
   * row as it is (its `toISOString()` and JSON keep the microseconds a plain Date drops).
   */
  readonly createdAt: Date;
  readonly creator: string;
  /** `events2.owner`: the resource owner (the org). */
  readonly owner: string;
  readonly revision: number;
  /** `events2.payload`, parsed (null when the event has none). */
  readonly payload: any;
}

export type Row = Readonly<Record<string, unknown>>;

/**
 * In an update's `set`: the value of another column of the same row, as it is when the
 * update runs (ZITADEL's `NewCopyCol`: `verified_email = last_email`).
 */
export interface CopyOf {
  readonly copyOf: string;
}

/** `set: { verified_email: copyOf('last_email') }`. */
export function copyOf(column: string): CopyOf {
  return { copyOf: column };
}

export function isCopyOf(v: unknown): v is CopyOf {
  return typeof v === 'object' && v !== null && typeof (v as CopyOf).copyOf === 'string' && Object.keys(v).length === 1;
}

/**
 * A row change. `key` and `row` values are JavaScript values (string, number, boolean,
 * Date, null, arrays, objects for jsonb).
 * - insert: a new row (a duplicate key is an error, as ZITADEL's create statement).
 * - upsert: insert, or on a key conflict update `update` (default: every non-key column of `row`).
 * - update: set columns of the row with this primary key (no row: nothing happens).
 * - delete: the row with this primary key (children go with it).
 * - deleteWhere / updateWhere: by other columns (the rows of a removed org or instance).
 */
export type Change =
  | { readonly op: 'insert'; readonly table: string; readonly row: Row }
  | { readonly op: 'upsert'; readonly table: string; readonly row: Row; readonly update?: readonly string[] }
  | { readonly op: 'update'; readonly table: string; readonly key: Row; readonly set: Row }
  | { readonly op: 'delete'; readonly table: string; readonly key: Row }
  | { readonly op: 'deleteWhere'; readonly table: string; readonly where: Row }
  | { readonly op: 'updateWhere'; readonly table: string; readonly where: Row; readonly set: Row };

/** A reducer: the changes one event makes (none: the event changes nothing). */
export type Reducer = (event: StoredEvent) => Change | readonly Change[] | undefined | void;

/** A projection: ZITADEL names it after its main table (`projections.users14`). */
export interface ProjectionSpec {
  readonly name: string;
  readonly tables: readonly TableSpec[];
  /** aggregate type -> event type -> reducer. Only these events are read. */
  readonly reducers: Readonly<Record<string, Readonly<Record<string, Reducer>>>>;
}

/**
 * A timestamp exact to the microsecond: a Date (to the millisecond, for arithmetic) whose
 * ISO text, and so its JSON and every row it is written into, is the exact one.
 */
export class EventTime extends Date {
  constructor(private readonly iso: string) {
    super(iso);
  }

  override toISOString(): string {
    return this.iso;
  }

  override toJSON(): string {
    return this.iso;
  }
}
