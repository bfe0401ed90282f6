/**
 * Where a step's SQL failed, from PostgreSQL's error position (characters into what was
 * sent): the statement, line and column, with characters beyond the BMP counted as one
 * (as PostgreSQL counts them) and the step's SQL found where it was sent.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeLocation, locate, noteReached, noteSent, noteStatement } from '../../src/engine/locate.js';

const pgError = (position: number) => Object.assign(new Error('boom'), { code: '42704', position: String(position) });

test('a position in a message that holds the script twice (a train): the occurrence that holds it', () => {
  const script = "SELECT '😀';\nSELECT x FROM nowhere;";
  const message = `BEGIN;\n${script}\nCOMMIT;\nBEGIN;\n${script}\nCOMMIT;`;
  // "nowhere" in the second copy, counted in code points (the emoji is one).
  const second = message.lastIndexOf('nowhere');
  const cps = Array.from(message.slice(0, second)).length;
  const err = pgError(cps + 1);
  noteSent(err, message);
  const l = locate(err, script, 'sql/x.sql')!;
  assert.equal(l, { file: 'sql/x.sql', line: 2, column: 15, statement: 2, statements: 2, text: 'SELECT x FROM nowhere;'.replace(';', '') });
  assert.is(describeLocation(l), 'at sql/x.sql:2:15, statement 2 of 2: SELECT x FROM nowhere');
});

test('run statement by statement: the statement is known; a position counts from that statement', () => {
  const script = '-- a\nSELECT 1;\n\n  SELECT y;';
  const err = pgError(8);
  noteStatement(err, 1, script.indexOf('SELECT y'));
  assert.equal(locate(err, script), { file: undefined, line: 4, column: 10, statement: 2, statements: 2, text: 'SELECT y' });
  const noPos = new Error('division by zero');
  noteStatement(noPos, 0, script.indexOf('SELECT 1'));
  assert.equal(locate(noPos, script), { file: undefined, line: 2, column: undefined, statement: 1, statements: 2, text: 'SELECT 1' });
});

test('no position, sent whole: the statement whose notice came last, the first one too (index 0)', () => {
  const script = 'SELECT 1;\nSELECT 2';
  for (const k of [0, 1]) {
    const err = new Error('division by zero');
    noteSent(err, 'whatever was sent', 'zsetup step x s');
    noteReached(err, k);
    assert.is(locate(err, script)!.statement, k + 1);
  }
});

test('nothing known: one statement without a file says nothing; several say how many', () => {
  assert.is(locate(new Error('x'), 'SELECT 1'), undefined);
  assert.is(describeLocation(locate(new Error('x'), 'SELECT 1; SELECT 2')!), 'at one of its 2 statements (the server did not say which)');
  assert.is(describeLocation(locate(new Error('x'), '\nSELECT 1', 'a.sql')!), 'at a.sql:2, statement 1 of 1: SELECT 1');
});

test.run();
