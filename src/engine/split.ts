/**
 * Split an SQL script into statements at top-level semicolons, aware of quotes
 * ('...', E'...', "..."), dollar quotes ($$...$$, $tag$...$tag$), and comments
 * (-- and nested block comments). Needed for statements that cannot share a
 * transaction (CREATE INDEX CONCURRENTLY): a multi-statement query is one transaction.
 * @example splitStatements("CREATE TABLE t (x text DEFAULT ';'); SELECT 1") // two statements
 */
export function splitStatements(sql: string, onUnterminated?: (what: string, line: number) => void): string[] {
  const out: string[] = [];
  // A script that ends inside a quote or comment would swallow whatever is sent after it
  // (the engine's own state record): let the caller reject it before it runs.
  const open = (what: string, at: number) => onUnterminated?.(what, sql.slice(0, at).split('\n').length);
  let start = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const e = sql.indexOf('\n', i);
      i = e < 0 ? n : e + 1;
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
      i++;
    } else if (c === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (m && !/[\w]/.test(sql[i - 1] ?? '')) {
        const tag = m[0];
        const e = sql.indexOf(tag, i + tag.length);
        if (e < 0) open(`dollar-quoted string ${tag}`, i);
        i = e < 0 ? n : e + tag.length;
      } else i++;
    } else if (c === ';') {
      push(sql.slice(start, i));
      start = ++i;
    } else i++;
  }
  push(sql.slice(start));
  return out;

  function push(s: string) {
    if (stripComments(s).trim() !== '') out.push(s.trim());
  }
}

function stripComments(s: string): string {
  return s.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}
