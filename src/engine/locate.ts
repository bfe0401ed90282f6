/**
 * Where in a step's SQL it failed: the statement (its number and first line), the line and
 * column in the step's SQL (its file's, for a `file()` step), from the position PostgreSQL
 * gives with an error (a character offset into the text it received). The engine notes
 * what it sent with an error (`noteSent`) or which statement ran (`noteStatement`, a
 * script run statement by statement); `locate` turns that into a location.
 */
import { statementsAt } from './split.js';

/** Where a step's SQL failed. */
export interface SqlLocation {
  /** The file the SQL comes from (relative to the config), when it is a file. */
  readonly file?: string | undefined;
  /** 1-based, in the step's SQL (in the file for a file step). Absent when the server did not say where. */
  readonly line?: number | undefined;
  readonly column?: number | undefined;
  /** Which statement (1-based) of how many, and its first line; absent when unknown. */
  readonly statement?: number | undefined;
  readonly statements: number;
  readonly text?: string | undefined;
}

const sent = new WeakMap<object, { message: string; marks?: string | undefined }>();
const ran = new WeakMap<object, { index: number; start: number }>();
const reached = new WeakMap<object, number>();

/**
 * `err` came from sending `message`: one that holds the step's SQL verbatim, or (`marks`)
 * its statements each after a notice `'<marks><k>'` (stepTransaction's statementMarks).
 */
export function noteSent(err: unknown, message: string, marks?: string): void {
  if (typeof err === 'object' && err !== null && !sent.has(err)) sent.set(err, { message, marks });
}

/** `err` came while statement `index` (0-based) of the step's SQL ran: its notice was the last one heard. */
export function noteReached(err: unknown, index: number): void {
  if (typeof err === 'object' && err !== null && !reached.has(err)) reached.set(err, index);
}

/** `err` came from statement `index` (0-based) of the step's SQL, which starts at `start`. */
export function noteStatement(err: unknown, index: number, start: number): void {
  if (typeof err === 'object' && err !== null && !ran.has(err)) ran.set(err, { index, start });
}

/** The 1-based character position PostgreSQL reported with `err` (or its cause), if any. */
function positionOf(err: unknown): number | undefined {
  for (let e = err as { position?: unknown; cause?: unknown } | undefined, n = 0; e && n < 10; e = e.cause as typeof e, n++) {
    const p = Number(e.position);
    if (Number.isInteger(p) && p > 0) return p;
  }
  return undefined;
}

/** The error (or cause) the engine noted something for. */
function noted<T>(map: WeakMap<object, T>, err: unknown): T | undefined {
  for (let e = err as { cause?: unknown } | undefined, n = 0; e && n < 10; e = e.cause as typeof e, n++) {
    const v = typeof e === 'object' ? map.get(e) : undefined;
    if (v !== undefined) return v;
  }
  return undefined;
}

/** The UTF-16 index of the `cp`-th (0-based) code point of `s` (PostgreSQL counts characters). */
function indexOfCodePoint(s: string, cp: number): number {
  let i = 0;
  for (let k = 0; k < cp && i < s.length; k++) i += s.codePointAt(i)! > 0xffff ? 2 : 1;
  return i;
}

/** The number of code points before UTF-16 index `i`. */
function codePointsBefore(s: string, i: number): number {
  let n = 0;
  for (let k = 0; k < i; k++, n++) if (s.codePointAt(k)! > 0xffff) k++;
  return n;
}

/**
 * Where `script` failed with `err`, or undefined when nothing is known (not an SQL step,
 * or an error the server gave no position for in a script sent whole: then only the
 * number of statements is known, and the caller says so).
 */
export function locate(err: unknown, script: string, file?: string): SqlLocation | undefined {
  const statements = statementsAt(script);
  let at: number | undefined;
  let index: number | undefined;
  const position = positionOf(err);
  const stmt = noted(ran, err);
  if (stmt) {
    index = stmt.index;
    // The position counts in the statement as sent (trimmed), from its start in the script.
    if (position !== undefined) at = indexOfCodePoint(script, codePointsBefore(script, stmt.start) + position - 1);
  } else {
    const s = noted(sent, err);
    if (s && position !== undefined) {
      const offset = indexOfCodePoint(s.message, position - 1);
      if (s.marks !== undefined && statements.length > 1) {
        // Each statement follows its notice: the one whose text holds the position.
        for (const [k, st] of statements.entries()) {
          const mark = s.message.indexOf(`'${s.marks}${k}'`);
          const from = mark < 0 ? -1 : s.message.indexOf(st.text, mark);
          if (from >= 0 && offset >= from && offset < from + st.text.length) {
            at = st.start + (offset - from);
            index = k;
            break;
          }
        }
      } else {
        // The occurrence of the script in what was sent that holds the position.
        for (let from = s.message.indexOf(script); from >= 0; from = s.message.indexOf(script, from + 1)) {
          if (offset >= from && offset < from + script.length) {
            at = offset - from;
            break;
          }
          if (from > offset) break;
        }
      }
    }
    // No position (an error at run time): the statement whose notice came last.
    const k = noted(reached, err);
    if (index === undefined && at === undefined && k !== undefined && k < statements.length) index = k;
  }
  if (at !== undefined && index === undefined) {
    index = statements.length - 1;
    for (let k = 0; k < statements.length; k++) {
      const next = statements[k + 1];
      if (next === undefined || at < next.start) {
        index = k;
        break;
      }
    }
  }
  if (index === undefined && at === undefined) {
    if (statements.length === 0 || (file === undefined && statements.length === 1)) return undefined;
    if (statements.length === 1) index = 0;
    else return { file, statements: statements.length };
  }
  const s = index !== undefined ? statements[index] : undefined;
  let line: number | undefined;
  let column: number | undefined;
  if (at !== undefined) {
    const before = script.slice(0, at);
    line = before.split('\n').length;
    column = codePointsBefore(before, before.length) - codePointsBefore(before, before.lastIndexOf('\n') + 1) + 1;
  } else if (s) line = s.line;
  const first = s ? firstCodeLine(s.text) : undefined;
  return { file, line, column, statement: index !== undefined ? index + 1 : undefined, statements: statements.length, text: first };
}

/** The statement's first line of code (comments before it skipped), shortened. */
function firstCodeLine(text: string): string {
  const l = text.split('\n').find((x) => x.trim() !== '' && !x.trim().startsWith('--')) ?? text;
  const t = l.trim();
  return t.length > 80 ? `${t.slice(0, 77)}...` : t;
}

/** `at sql/02.sql:3:15, statement 2 of 3: CREATE TABLE t (x txet)`. */
export function describeLocation(l: SqlLocation): string {
  const where = l.line !== undefined ? `${l.file ?? 'line'}${l.file ? ':' : ' '}${l.line}${l.column !== undefined ? `:${l.column}` : ''}` : l.file;
  const which = l.statement !== undefined ? `statement ${l.statement} of ${l.statements}${l.text ? `: ${l.text}` : ''}` : `one of its ${l.statements} statements (the server did not say which)`;
  return `at ${where ? `${where}, ` : ''}${which}`;
}
