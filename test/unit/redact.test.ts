/**
 * Redaction and error descriptions, in process: no password survives `redact` whatever
 * carries it (a URL with raw or encoded specials, a `password=` parameter, JSON escaping,
 * a remembered secret), and every thrown value reads as one line: never empty, never
 * `[object Object]`. The CLI paths that print through these are in test/cli/edges.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { causeChain, describeThrown, passwordsIn, redact, redactDeep, rememberSecret } from '../../src/errors.js';

const leaks = (text: string, secret: string) => text.includes(secret);

test('URL passwords are scrubbed, also with raw @, #, / or ? in them', () => {
  for (const [url, pw] of [
    ['postgres://root:S3cr3t-pw_42@127.0.0.1:5432/db', 'S3cr3t-pw_42'],
    ['postgres://root:p@ss@127.0.0.1/db', 'p@ss'],
    ['postgres://root:pa#ss@127.0.0.1/db', 'pa#ss'],
    ['postgres://root:pa/ss@127.0.0.1/db', 'pa/ss'],
    ['postgresql://u:p%40ss%23w0rd@h:5432/db?sslmode=disable', 'p%40ss%23w0rd'],
  ] as const) {
    const out = redact(`connect failed for ${url} (retrying)`);
    assert.not.ok(leaks(out, pw), out);
    assert.ok(out.includes('***'), out);
    assert.ok(out.includes('retrying'), 'the rest of the text is kept');
  }
});

test('password= parameters (URL query and key/value) are scrubbed', () => {
  for (const [text, pw] of [
    ['postgres://root@h/db?password=se%23cret&sslmode=require', 'se%23cret'],
    ['host=h user=u password=hunter22 dbname=d', 'hunter22'],
    ["password='quoted value'", 'quoted value'],
    ['PASSWORD: Zz9_secret', 'Zz9_secret'],
  ] as const) {
    assert.not.ok(leaks(redact(text), pw), redact(text));
  }
});

test('passwordsIn finds the password without trusting the URL to parse, in every spelling', () => {
  assert.equal(passwordsIn('postgres://root:pa#ss@127.0.0.1:5432:5433/db'), ['pa#ss']);
  assert.equal(passwordsIn('postgres://u:p@ss@h/db'), ['p@ss']);
  assert.equal(passwordsIn('postgres://u@h/db?password=a%23b&x=1'), ['a%23b']);
  assert.equal(passwordsIn('postgres://u@h/db'), []);
  assert.equal(passwordsIn(undefined), []);
});

test('a remembered secret is scrubbed raw, URL-encoded, decoded and JSON-escaped', () => {
  const secret = 'Qx"7\\p@ss#w0rd';
  rememberSecret(secret);
  for (const form of [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)]) {
    const out = redact(`plugin failed: token ${form} rejected`);
    assert.not.ok(out.includes(form), out);
  }
  // Encoded in the source, decoded in the message.
  rememberSecret('k%2Fey%21Zz');
  assert.not.ok(redact('bad k/ey!Zz here').includes('k/ey!Zz'));
  // A query parameter's '+' is a space to the driver: that spelling is scrubbed too.
  rememberSecret('Sup3r+S3cret+XYZ');
  assert.not.ok(redact('login used Sup3r S3cret XYZ').includes('S3cret'));
  // JSON output: scrubbed before escaping.
  const obj = redactDeep({ error: `x ${secret} y`, nested: [{ m: new Error(`e ${secret}`) }] });
  assert.not.ok(JSON.stringify(obj).includes('p@ss#w0rd'), JSON.stringify(obj));
});

test('describeThrown: every thrown value is one readable line', () => {
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /^undefined was thrown/],
    [null, /^null was thrown/],
    [0, /^the number 0 was thrown/],
    [42, /42/],
    ['', /empty string/],
    ['boom', /^boom$/],
    [{ message: 'm', code: 'E1' }, /^m \(code E1\)$/],
    [{ code: '40001' }, /code 40001/],
    [{}, /^an object with no message was thrown: \{\}$/],
    [Symbol('s'), /symbol s/],
    [new Error(''), /^Error with no message$/],
    [
      {
        toString() {
          throw new Error('no');
        },
      },
      /object with no message/,
    ],
    [
      new Proxy(
        {},
        {
          get() {
            throw new Error('hostile');
          },
        },
      ),
      /./,
    ],
  ];
  for (const [v, re] of cases) {
    const d = describeThrown(v);
    assert.ok(re.test(d), `${String(typeof v)}: ${d}`);
    assert.not.ok(d.includes('[object Object]'), d);
    assert.ok(d.trim().length > 0);
  }
});

test('causeChain keeps the chain, SQLSTATEs, and plain-object causes readable', () => {
  const pg = Object.assign(new Error('relation "x" does not exist'), { code: '42P01' });
  assert.is(causeChain(new Error('step failed', { cause: pg })), 'step failed: relation "x" does not exist (SQLSTATE 42P01)');
  assert.is(causeChain(new Error('wrapped', { cause: { message: 'inner', code: 'E2' } })), 'wrapped: inner (code E2)');
  assert.is(causeChain(undefined), 'undefined was thrown (no error was given)');
  const loop: { message: string; cause?: unknown } = { message: 'a' };
  loop.cause = loop;
  assert.is(causeChain(loop), 'a');
});

test.run();
