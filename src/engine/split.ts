/**
 * One SQL tokenizer for the engine, aware of quotes ('...', E'...', "..."), dollar quotes
 * ($$...$$, $tag$...$tag$) and comments (-- and nested block comments). It serves:
 * - splitStatements: statements at top-level semicolons, for steps that run outside a
 *   transaction (CREATE INDEX CONCURRENTLY cannot share one);
 * - statementsAt: the same with where each statement starts (its line), to point a failure
 *   at its statement and line;
 * - canonicalSql: the text a SQL step's checksum is taken of, without comments and with
 *   whitespace outside literals collapsed, so that a comment or a reformatting is not drift.
 * @example splitStatements("CREATE TABLE t (x text DEFAULT ';'); SELECT 1") // two statements
 */

/** A piece of SQL text: code, a comment, a quoted string or identifier, a dollar-quoted body, or a top-level `;`. */
export interface SqlToken {
  readonly type: 'code' | 'space' | 'comment' | 'string' | 'ident' | 'dollar' | 'semicolon';
  readonly start: number;
  readonly end: number;
}

/**
 * The tokens of `sql`, in order, covering all of it. `onUnterminated` hears of a quote or
 * comment that never ends (it would swallow whatever is sent after the script: the
 * engine's own state record), with the line it starts on.
 */
export function scanSql(sql: string, onUnterminated?: (what: string, line: number) => void): SqlToken[] {
  const out: SqlToken[] = [];
  const open = (what: string, at: number) => onUnterminated?.(what, lineAt(sql, at));
  const n = sql.length;
  let i = 0;
  let code = -1;
  const flush = (at: number) => {
    if (code >= 0 && code < at) out.push({ type: 'code', start: code, end: at });
    code = -1;
  };
  const push = (type: SqlToken['type'], start: number, end: number) => {
    flush(start);
    out.push({ type, start, end });
  };
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const e = sql.indexOf('\n', i);
      const end = e < 0 ? n : e;
      push('comment', i, end);
      i = end;
    } else if (c === '/' && next === '*') {
      const at = i;
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') (depth++, (i += 2));
        else if (sql[i] === '*' && sql[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
      if (depth > 0) open('/* comment', at);
      push('comment', at, i);
    } else if (c === "'" || c === '"') {
      const at = i;
      const backslashes = c === "'" && (sql[i - 1] === 'E' || sql[i - 1] === 'e') && !/\w/.test(sql[i - 2] ?? '');
      i++;
      while (i < n) {
        if (backslashes && sql[i] === '\\') i += 2;
        else if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2;
          else break;
        } else i++;
      }
      if (i >= n) open(c === "'" ? 'quoted string' : 'quoted identifier', at);
      i = Math.min(n, i + 1);
      // (The E of E'...' stays with the code before it: the two are never apart.)
      push(c === "'" ? 'string' : 'ident', at, i);
    } else if (c === '$' && !/\w/.test(sql[i - 1] ?? '')) {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 66));
      if (m) {
        const tag = m[0];
        const e = sql.indexOf(tag, i + tag.length);
        if (e < 0) open(`dollar-quoted string ${tag}`, i);
        const end = e < 0 ? n : e + tag.length;
        push('dollar', i, end);
        i = end;
      } else {
        if (code < 0) code = i;
        i++;
      }
    } else if (c === ';') {
      push('semicolon', i, i + 1);
      i++;
    } else if (/\s/.test(c)) {
      const at = i;
      while (i < n && /\s/.test(sql[i]!)) i++;
      push('space', at, i);
    } else {
      if (code < 0) code = i;
      i++;
    }
  }
  flush(n);
  return out;
}

/** A statement of a script: its text (trimmed), where it starts, and the line it starts on (1-based). */
export interface Statement {
  readonly text: string;
  readonly start: number;
  readonly line: number;
}

/** The statements of `sql` with where each starts (comments before a statement belong to it; its line is its first code's). */
export function statementsAt(sql: string, onUnterminated?: (what: string, line: number) => void): Statement[] {
  const out: Statement[] = [];
  let from = 0;
  let firstCode = -1;
  const end = (at: number) => {
    if (firstCode >= 0) {
      const raw = sql.slice(from, at);
      const lead = raw.length - raw.trimStart().length;
      out.push({ text: raw.trim(), start: from + lead, line: lineAt(sql, firstCode) });
    }
    firstCode = -1;
  };
  for (const t of scanSql(sql, onUnterminated)) {
    if (t.type === 'semicolon') {
      end(t.start);
      from = t.end;
    } else if (firstCode < 0 && t.type !== 'space' && t.type !== 'comment') firstCode = t.start;
  }
  end(sql.length);
  return out;
}

/** Split an SQL script into statements at top-level semicolons (see the module comment). */
export function splitStatements(sql: string, onUnterminated?: (what: string, line: number) => void): string[] {
  return statementsAt(sql, onUnterminated).map((s) => s.text);
}

/**
 * The text a SQL step's checksum is taken of: its statements without comments, whitespace
 * outside literals, quoted identifiers and dollar-quoted bodies collapsed to one space (none
 * next to punctuation), and no empty statements. What a literal or a function body says
 * is kept exactly. A comment or a reformatting does not change it; any change of meaning does.
 * @example canonicalSql("-- users\nCREATE TABLE u (\n  id int\n);") === canonicalSql('CREATE TABLE u (id int)')
 */
export function canonicalSql(sql: string): string {
  const statements: string[] = [];
  let cur = '';
  let space = false;
  const PUNCT = /[(),;[\]]/;
  for (const t of scanSql(sql)) {
    if (t.type === 'comment' || t.type === 'space') {
      // A comment separates tokens like whitespace does (`SELECT/**/1`).
      space = cur !== '';
      continue;
    }
    if (t.type === 'semicolon') {
      if (cur !== '') statements.push(cur);
      cur = '';
      space = false;
      continue;
    }
    const text = sql.slice(t.start, t.end);
    if (space && !PUNCT.test(cur[cur.length - 1]!) && !PUNCT.test(text[0]!)) cur += ' ';
    space = false;
    cur += text;
  }
  if (cur !== '') statements.push(cur);
  return statements.join(';\n');
}

/** The 1-based line of offset `at` in `text`. */
export function lineAt(text: string, at: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < at; i = text.indexOf('\n', i + 1)) line++;
  return line;
}
