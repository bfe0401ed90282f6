/** What kind of fault an error is: the engine retries connection and transient faults only. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { classifyFault, isRetryable, sqlState } from '../../src/classify.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

test('a write to a connection the server closed (EPIPE, shaped like an SQLSTATE) is a connection fault, not SQL', () => {
  const epipe = Object.assign(withCode('write EPIPE', 'EPIPE'), { errno: -32, syscall: 'write' });
  assert.is(classifyFault(epipe), 'connection');
  assert.ok(isRetryable(epipe));
  assert.is(sqlState(epipe), undefined);
  assert.is(classifyFault(withCode('read ECONNRESET', 'ECONNRESET')), 'connection');
});

test('SQLSTATEs decide: 57P01 (terminated by an administrator) connection, 40001 transient, 42P01 sql', () => {
  assert.is(classifyFault(withCode('terminating connection due to administrator command', '57P01')), 'connection');
  assert.is(classifyFault(withCode('could not serialize access', '40001')), 'transient');
  assert.is(classifyFault(withCode('relation "x" does not exist', '42P01')), 'sql');
  assert.is(sqlState(withCode('relation "x" does not exist', '42P01')), '42P01');
  assert.is(classifyFault(new Error('Connection terminated unexpectedly')), 'connection');
  assert.is(classifyFault(new Error('something else')), 'other');
});

test.run();
