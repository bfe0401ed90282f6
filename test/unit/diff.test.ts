/**
 * The unified diff `plan` shows for a step whose SQL changed after it ran: hunks and line
 * numbers as `diff -u` prints them (this case was checked against GNU diff).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { unifiedDiff } from '../../src/plan/diff.js';

test('two hunks with three lines of context, numbered as diff -u numbers them', () => {
  const a = 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\n';
  const b = 'a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nm\nn\n';
  assert.is(
    unifiedDiff(a, b, { from: 'applied', to: 'now' }),
    ['--- applied', '+++ now', '@@ -1,5 +1,5 @@', ' a', '-b', '+B', ' c', ' d', ' e', '@@ -9,5 +9,5 @@', ' i', ' j', ' k', '-l', ' m', '+n'].join('\n'),
  );
});

test('the same lines: empty; CRLF against LF: the same; an added first line and a removed last one', () => {
  assert.is(unifiedDiff('x\ny\n', 'x\r\ny\r\n'), '');
  assert.is(unifiedDiff('x\ny', 'w\nx\ny'), '--- a\n+++ b\n@@ -1,2 +1,3 @@\n+w\n x\n y');
  assert.is(unifiedDiff('x\ny\n', 'x\n'), '--- a\n+++ b\n@@ -1,2 +1,1 @@\n x\n-y');
  assert.is(unifiedDiff('', 'x\n'), '--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x');
});

test('texts too large to compare line by line are not diffed (undefined), whatever their size', () => {
  const big = (c: string) => Array.from({ length: 3000 }, (_, i) => `${c}${i}`).join('\n');
  assert.is(unifiedDiff(big('a'), big('b')), undefined);
  assert.is(typeof unifiedDiff(`${big('a')}\nend`, `${big('a')}\nEND`), 'string', 'a common head and tail are not counted');
});

test.run();
