/**
 * Durations, in process: what parseDuration accepts (numbers of milliseconds, and unit
 * strings) and what it refuses (so the caller can name the key), and formatMs, the
 * durations people read. Range limits are the caller's (config validation tests).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatMs, parseDuration } from '../../src/config/duration.js';

test('numbers are milliseconds', () => {
  assert.is(parseDuration(1500), 1500);
  assert.is(parseDuration(0), 0);
  assert.is(parseDuration('1500'), 1500);
  assert.is(parseDuration('0'), 0);
});

test('units ms, s, m, h, d, and combinations, in any amount', () => {
  assert.is(parseDuration('500ms'), 500);
  assert.is(parseDuration('10s'), 10_000);
  assert.is(parseDuration('5m'), 300_000);
  assert.is(parseDuration('2h'), 7_200_000);
  assert.is(parseDuration('2d'), 172_800_000);
  assert.is(parseDuration('1h30m'), 5_400_000);
  assert.is(parseDuration('1m30s500ms'), 90_500);
  assert.is(parseDuration('1.5s'), 1500);
  assert.is(parseDuration(' 10s '), 10_000, 'surrounding spaces are ignored');
});

test('whole milliseconds: fractions round, a positive fraction below 1 ms is 1 ms', () => {
  assert.is(parseDuration(1.4), 1);
  assert.is(parseDuration(2.6), 3);
  assert.is(parseDuration('0.2ms'), 1);
  assert.is(parseDuration(0.2), 1);
});

test('anything else is undefined, for the caller to report', () => {
  for (const v of ['', '   ', 'soon', 's', '10S', '10x', '10s5', '-5s', '-1', '1e3', 'ten seconds', '5 minutes', -1, NaN, Infinity, -Infinity, null, undefined, {}, [], true]) {
    assert.is(parseDuration(v as never), undefined, `${JSON.stringify(v) ?? String(v)}`);
  }
});

test('formatMs: ms below a second, seconds with two decimals below a minute, then minutes and seconds', () => {
  assert.is(formatMs(0), '0 ms');
  assert.is(formatMs(999), '999 ms');
  assert.is(formatMs(1000), '1.00 s');
  assert.is(formatMs(1234), '1.23 s');
  assert.is(formatMs(59_000), '59.00 s');
  assert.is(formatMs(60_000), '1m00s');
  assert.is(formatMs(61_000), '1m01s');
  assert.is(formatMs(90_500), '1m31s');
});

test('a formatted duration parses back to about the same value', () => {
  for (const ms of [250, 1500, 12_340, 61_000, 754_000]) {
    const back = parseDuration(formatMs(ms).replace(/ /g, ''));
    assert.ok(back !== undefined && Math.abs(back - ms) <= 1000, `${ms} -> ${formatMs(ms)} -> ${back}`);
  }
});

test.run();
