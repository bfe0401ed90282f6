/**
 * Step checksums, in process: sha256 of the normalised source, so line endings, trailing
 * whitespace and blank lines at either end never look like drift, and any other change
 * does. (Drift refused through the CLI: test/cli/exit-codes.test.ts.)
 */
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checksum, normalizeSource } from '../../src/plan/checksum.js';

test('normalizeSource: CRLF and CR become LF', () => {
  assert.is(normalizeSource('a\r\nb\rc\nd'), 'a\nb\nc\nd');
});

test('normalizeSource: trailing spaces and tabs of every line go, leading ones stay', () => {
  assert.is(normalizeSource('  SELECT 1;  \t\n\tSELECT 2;\f\v'), '  SELECT 1;\n\tSELECT 2;');
});

test('normalizeSource: blank lines at either end go, blank lines inside stay', () => {
  assert.is(normalizeSource('\n\n\nSELECT 1;\n\n\nSELECT 2;\n\n'), 'SELECT 1;\n\n\nSELECT 2;');
  assert.is(normalizeSource('\r\n  \r\nSELECT 1;\r\n   \r\n'), 'SELECT 1;');
  assert.is(normalizeSource(''), '');
});

test('checksum: sha256 hex of the normalised text', () => {
  const text = 'CREATE TABLE t (id int);';
  assert.is(checksum(text), createHash('sha256').update(text).digest('hex'));
  assert.match(checksum(text), /^[0-9a-f]{64}$/);
  assert.is(checksum('\r\nCREATE TABLE t (id int);   \r\n'), checksum(text));
});

test('checksum: a CRLF checkout or an editor stripping whitespace is not drift', () => {
  const lf = 'CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\n';
  const crlf = lf.replace(/\n/g, '\r\n');
  const padded = `\n${lf.replace(/;\n/g, ';   \n')}\n\n`;
  assert.is(checksum(crlf), checksum(lf));
  assert.is(checksum(padded), checksum(lf));
});

test('checksum: every other change is a change', () => {
  const base = checksum('CREATE TABLE d (id int)');
  for (const changed of ['CREATE TABLE d (id bigint)', 'CREATE TABLE d  (id int)', 'create table d (id int)', '  CREATE TABLE d (id int)', 'CREATE TABLE d (id int);', 'CREATE TABLE d (id int)\nSELECT 1']) {
    assert.is.not(checksum(changed), base, JSON.stringify(changed));
  }
  assert.is.not(checksum('a\n\nb'), checksum('a\nb'), 'a blank line inside counts');
});

test.run();
