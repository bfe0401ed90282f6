/** What kind of fault an error is: the engine retries connection and transient faults only. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { classifyFault, connectFault, isRetryable, sqlState } from '../../src/classify.js';

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

const serverError = (message: string, code: string, severity: string) => Object.assign(new Error(message), { code, severity });

test('a connection the server turned down for good is fatal-connect, never retried; the same SQLSTATE of a statement stays sql', () => {
  const missingDb = serverError('database "x" does not exist', '3D000', 'FATAL');
  assert.is(classifyFault(missingDb), 'fatal-connect');
  assert.not.ok(isRetryable(missingDb));
  assert.is(classifyFault(new Error('wrapped', { cause: missingDb })), 'fatal-connect');
  assert.is(classifyFault(serverError('password authentication failed for user "z"', '28P01', 'FATAL')), 'fatal-connect');
  assert.is(classifyFault(serverError('permission denied for database "d"', '42501', 'FATAL')), 'fatal-connect');
  // A statement's ERROR: ALTER DATABASE of a missing one, a table without the right.
  assert.is(classifyFault(serverError('database "x" does not exist', '3D000', 'ERROR')), 'sql');
  assert.is(classifyFault(serverError('permission denied for table t', '42501', 'ERROR')), 'sql');
  assert.is(classifyFault(new Error('The server does not support SSL connections')), 'fatal-connect');
  assert.is(classifyFault(withCode('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT')), 'fatal-connect');
});

test('connectFault: what is retried at connect (refused, timed out, unresolved, starting, full, reset) and what fails at once, and why', () => {
  const f = (err: unknown) => {
    const c = connectFault(err);
    return `${c.reason}:${c.retry}`;
  };
  assert.is(f(serverError('database "x" does not exist', '3D000', 'FATAL')), 'database-missing:false');
  // While connecting, a localized severity does not hide what 3D000 means.
  assert.is(f(serverError('la base de données « x » n’existe pas', '3D000', 'FATAL-ish')), 'database-missing:false');
  assert.is(f(serverError('role "r" does not exist', '28000', 'FATAL')), 'role-missing:false');
  assert.is(f(serverError('password authentication failed for user "r"', '28P01', 'FATAL')), 'auth-failed:false');
  assert.is(f(serverError('no pg_hba.conf entry for host "1.2.3.4", user "r", database "d", no encryption', '28000', 'FATAL')), 'ssl-required:false');
  assert.is(f(serverError('no pg_hba.conf entry for host "1.2.3.4", user "r", database "d", SSL encryption', '28000', 'FATAL')), 'pg-hba:false');
  assert.is(f(serverError('permission denied for database "d"', '42501', 'FATAL')), 'connect-privilege:false');
  assert.is(f(new Error('The server does not support SSL connections')), 'ssl-unsupported:false');
  assert.is(f(new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string')), 'auth-failed:false');
  assert.is(f(serverError('unrecognized configuration parameter "x"', '42704', 'FATAL')), 'refused-other:false');
  assert.is(f(new TypeError('something we do not know')), 'other:false');

  assert.is(f(withCode('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED')), 'refused:true');
  assert.is(f(Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' })), 'refused:true');
  assert.is(f(withCode('no answer within 5 s', 'ETIMEDOUT')), 'timeout:true');
  assert.is(f(withCode('getaddrinfo ENOTFOUND db', 'ENOTFOUND')), 'host-unknown:true');
  assert.is(f(withCode('getaddrinfo EAI_AGAIN db', 'EAI_AGAIN')), 'host-unknown:true');
  assert.is(f(withCode('connect EHOSTUNREACH 10.0.0.5:5432', 'EHOSTUNREACH')), 'network:true');
  assert.is(f(serverError('the database system is starting up', '57P03', 'FATAL')), 'starting:true');
  assert.is(f(serverError('sorry, too many clients already', '53300', 'FATAL')), 'too-many:true');
  assert.is(f(new Error('Connection terminated unexpectedly')), 'reset:true');
});

test.run();
