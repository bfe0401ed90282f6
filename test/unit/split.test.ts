/**
 * SQL statement splitting, in process: top-level semicolons only, never inside quotes,
 * quoted identifiers, dollar quotes, or comments; and a script that ends inside one of
 * those is reported with the line where it opened. (The CLI's wording of that report:
 * test/cli/validation.test.ts; statements run one by one: test/faults/failures.test.ts.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalSql, splitStatements, statementsAt } from '../../src/engine/split.js';

/** Split, failing the test if anything is reported unterminated. */
function split(sql: string): string[] {
  return splitStatements(sql, (what, line) => assert.unreachable(`reported unterminated ${what} at line ${line} in ${JSON.stringify(sql)}`));
}

/** Split, returning what was reported unterminated. */
function unterminated(sql: string): Array<[string, number]> {
  const seen: Array<[string, number]> = [];
  splitStatements(sql, (what, line) => seen.push([what, line]));
  return seen;
}

test('top-level semicolons; statements trimmed; a trailing semicolon or none', () => {
  assert.equal(split('SELECT 1; SELECT 2;'), ['SELECT 1', 'SELECT 2']);
  assert.equal(split('  SELECT 1\n;\n\n  SELECT 2  '), ['SELECT 1', 'SELECT 2']);
  assert.equal(split('SELECT 1'), ['SELECT 1']);
});

test('empty statements and comment-only statements are dropped', () => {
  assert.equal(split('; ;  ; -- only a comment\n/* and a block */;'), []);
  assert.equal(split(''), []);
  assert.equal(split('SELECT 1;; -- done\n'), ['SELECT 1']);
});

test("single quotes: a ';' inside, and a doubled '' quote", () => {
  assert.equal(split("SELECT ';'; SELECT 'it''s; fine'"), ["SELECT ';'", "SELECT 'it''s; fine'"]);
});

test("E'' strings take backslash escapes; plain strings do not", () => {
  assert.equal(split("SELECT E'\\';'; SELECT 2"), ["SELECT E'\\';'", 'SELECT 2']);
  assert.equal(split("SELECT e'a\\\\'; SELECT 2"), ["SELECT e'a\\\\'", 'SELECT 2']);
  assert.equal(split("SELECT 'a\\'; SELECT 2"), ["SELECT 'a\\'", 'SELECT 2']);
  // An identifier ending in e is not an E'' prefix.
  assert.equal(split("SELECT some'x\\'; SELECT 2"), ["SELECT some'x\\'", 'SELECT 2']);
});

test('quoted identifiers: a ";" and a doubled "" inside', () => {
  assert.equal(split('SELECT "a;b""c" FROM t; SELECT 2'), ['SELECT "a;b""c" FROM t', 'SELECT 2']);
});

test('dollar quotes: $$ and $tag$, a different tag inside does not end them', () => {
  assert.equal(split('CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT 2'), ['CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql', 'SELECT 2']);
  assert.equal(split('DO $body$ BEGIN PERFORM $$;$$; END $body$; SELECT 2'), ['DO $body$ BEGIN PERFORM $$;$$; END $body$', 'SELECT 2']);
  assert.equal(split("DO $x$ BEGIN RAISE NOTICE 'a;b'; END $x$;"), ["DO $x$ BEGIN RAISE NOTICE 'a;b'; END $x$"]);
});

test('$1 parameters and $ inside identifiers are not dollar quotes', () => {
  assert.equal(split('SELECT $1; SELECT a$b$c FROM t; SELECT 3'), ['SELECT $1', 'SELECT a$b$c FROM t', 'SELECT 3']);
});

test('-- comments and nested /* */ comments hide semicolons', () => {
  assert.equal(split('SELECT 1 -- c; d\n; SELECT 2'), ['SELECT 1 -- c; d', 'SELECT 2']);
  assert.equal(split('SELECT /* a /* b; */ c; */ 1; SELECT 2'), ['SELECT /* a /* b; */ c; */ 1', 'SELECT 2']);
  assert.equal(split("SELECT 1 -- it's\n; SELECT 2"), ["SELECT 1 -- it's", 'SELECT 2'], 'a quote inside a comment opens nothing');
});

test('CREATE INDEX CONCURRENTLY scripts split into one statement each', () => {
  const sql = `
    CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_t_id ON idx_t (id);
    CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_t_name ON idx_t (name);
  `;
  assert.equal(split(sql), ['CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_t_id ON idx_t (id)', 'CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_t_name ON idx_t (name)']);
});

test('a script that ends inside a quote, an identifier, a comment or a dollar quote: reported with the line it opened on', () => {
  assert.equal(unterminated("CREATE TABLE a (id int);\nINSERT INTO a VALUES ('unclosed)"), [['quoted string', 2]]);
  assert.equal(unterminated('SELECT 1;\n\nSELECT "x'), [['quoted identifier', 3]]);
  assert.equal(unterminated('SELECT 1 /* unclosed'), [['/* comment', 1]]);
  assert.equal(unterminated('SELECT 1 /* a /* b */'), [['/* comment', 1]], 'nested: one close is not enough');
  assert.equal(unterminated('CREATE FUNCTION f() RETURNS int AS $body$\nSELECT 1;\n'), [['dollar-quoted string $body$', 1]]);
  assert.equal(unterminated('SELECT 1;\nSELECT $t$ x $u$'), [['dollar-quoted string $t$', 2]]);
});

test('a complete script reports nothing, a trailing -- comment included', () => {
  assert.equal(unterminated(`SELECT 'it''s', $$ a ' b $$, "x""y" -- trailing comment`), []);
  assert.equal(unterminated('SELECT 1 -- no newline at the end'), []);
});

test('without a callback, an unterminated script is still split (the caller validated it before)', () => {
  assert.equal(splitStatements("SELECT 1; SELECT 'x"), ['SELECT 1', "SELECT 'x"]);
});

test('statementsAt: each statement with the line its code starts on (comments before it are its own)', () => {
  const sql = "-- header\nCREATE TABLE a (id int);\n\n/* two */ INSERT INTO a\nVALUES (';');\nSELECT $$\n;\n$$";
  assert.equal(
    statementsAt(sql).map((s) => [s.line, s.text.split('\n')[0]]),
    [[2, '-- header'], [4, '/* two */ INSERT INTO a'], [6, 'SELECT $$']],
  );
  assert.is(sql.slice(statementsAt(sql)[1]!.start).startsWith('/* two */'), true);
});

test('canonicalSql: comments, line breaks, indentation and empty statements do not count; what anything says does', () => {
  const base = canonicalSql('CREATE TABLE u (id int, name text DEFAULT \'a  b\');\nCREATE INDEX ON u (name)');
  for (const same of [
    '-- users\nCREATE TABLE u (\n  id int, -- the key\n  name text DEFAULT \'a  b\'\n);\n\n/* an index */\nCREATE INDEX ON u (name);',
    'CREATE   TABLE u(id int,name text DEFAULT \'a  b\');;\r\nCREATE INDEX ON u(name);\n',
    '\tCREATE TABLE u ( id int , name text DEFAULT \'a  b\' ) ; CREATE INDEX ON u ( name ) -- done',
  ])
    assert.is(canonicalSql(same), base, same);
  for (const other of [
    'CREATE TABLE u (id int, name text DEFAULT \'a b\');\nCREATE INDEX ON u (name)', // a literal changed
    'CREATE TABLE u (id bigint, name text DEFAULT \'a  b\');\nCREATE INDEX ON u (name)',
    'CREATE TABLE u (id int, name text DEFAULT \'a  b\');\nCREATE INDEX ON u (name DESC)',
    'CREATE TABLE "u " (id int, name text DEFAULT \'a  b\');\nCREATE INDEX ON u (name)',
  ])
    assert.is.not(canonicalSql(other), base, other);
  // A function body (dollar-quoted) is kept as written: PostgreSQL stores it as text.
  assert.is.not(canonicalSql('CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql'), canonicalSql('CREATE FUNCTION f() RETURNS int AS $$SELECT 1$$ LANGUAGE sql'));
  assert.is(canonicalSql('SELECT/**/1'), canonicalSql('SELECT 1'), 'a comment separates like a space');
  assert.is.not(canonicalSql('SELECT a - -b'), canonicalSql('SELECT a --b'), 'a -- is a comment, two minus signs are not');
  assert.is(canonicalSql("SELECT E'a\\'' b'"), "SELECT E'a\\'' b'", 'an E string with an escaped quote is one literal');
});

test.run();
