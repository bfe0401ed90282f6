/**
 * Finding and loading the config file, in process: JSON errors with line and column
 * (whatever the terminal: no colours are involved), a malformed package.json that neither
 * breaks --config nor is blamed on another file, configs that reject with anything, and a
 * bounded wait for a config that never settles. The real CLI's side (a config whose
 * promise never settles, exit 2 naming the file) is in test/cli/edges.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError } from '../../src/errors.js';
import { loadConfigFile, parseJson, settled, JsonSyntaxError } from '../../src/config/load.js';
import { scratch } from '../helpers.js';

async function problem(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, ConfigError);
    const e = err as ConfigError;
    assert.is(e.problems.length, 1, e.message);
    return e.message;
  }
  throw new Error('expected a ConfigError');
}

test('parseJson: the position of the first error, for every kind of mistake', () => {
  const at = (text: string) => {
    try {
      parseJson(text);
    } catch (err) {
      assert.instance(err, JsonSyntaxError);
      return `${(err as JsonSyntaxError).line}:${(err as JsonSyntaxError).column} ${(err as JsonSyntaxError).reason}`;
    }
    throw new Error(`parsed: ${text}`);
  };
  assert.is(at('{\n  "a": 1,\n  "b": }'), '3:8 unexpected "}"');
  assert.is(at('{\n  "a": 1,\n}'), '3:1 a trailing comma before "}"');
  assert.is(at('{"a" 1}'), '1:6 expected ":" after the property name, found "1"');
  assert.is(at('[1, 2'), '1:6 expected "," or "]" after an array element, found the end of the file');
  assert.is(at('{"a": "x\ny"}'), '1:9 a line break or control character inside a string');
  assert.is(at('{"a": 1} x'), '1:10 unexpected "x" after the end of the JSON value');
  assert.is(at(''), '1:1 unexpected end of the file');
  assert.equal(parseJson('\ufeff{"a": [1, {"b": null}]}'), { a: [1, { b: null }] });
});

test('a malformed package.json: --config other.ts still loads; searching names package.json with line and column', async () => {
  const d = scratch({
    'package.json': '{\n  "name": "x",\n  "zsetup": { "steps": [] },\n}\n',
    'other.ts': `export default { steps: [] };\n`,
  });
  try {
    const ok = await loadConfigFile(d.dir, 'other.ts');
    assert.equal(ok.exported, { steps: [] });
    const msg = await problem(loadConfigFile(d.dir));
    assert.is(msg, 'package.json: syntax error at line 4, column 1: a trailing comma before "}"');
    // Same whatever the environment says about colours or CI.
    const saved = { CI: process.env.CI, FORCE_COLOR: process.env.FORCE_COLOR };
    process.env.CI = '1';
    process.env.FORCE_COLOR = '3';
    try {
      assert.is(await problem(loadConfigFile(d.dir)), msg);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    // A config file earlier in the search list wins: package.json is not even read.
    d.write({ 'zsetup.config.ts': 'export default { steps: [1] };\n' });
    assert.equal((await loadConfigFile(d.dir)).exported, { steps: [1] });
  } finally {
    d.remove();
  }
});

test('configs that throw or reject with anything name the file; an empty one says so', async () => {
  const d = scratch({
    'undef.mjs': 'export default Promise.reject(undefined);\n',
    'null.ts': 'throw null;\n',
    'obj.ts': "export default Promise.reject({ message: 'vault down', code: 'E_VAULT' });\n",
    'syntax.ts': 'export default { steps: [ };\n',
    'bad.yaml': 'steps:\n  - name: a\n   sql: x\n',
    'empty.yaml': '',
    'bad.json': '{"steps": [}',
  });
  try {
    assert.match(await problem(loadConfigFile(d.dir, 'undef.mjs')), /^undef\.mjs: the config threw or rejected with: undefined was thrown/);
    assert.match(await problem(loadConfigFile(d.dir, 'null.ts')), /^null\.ts: .*null was thrown/);
    assert.match(await problem(loadConfigFile(d.dir, 'obj.ts')), /^obj\.ts: .*vault down \(code E_VAULT\)$/);
    assert.match(await problem(loadConfigFile(d.dir, 'syntax.ts')), /^syntax\.ts: syntax error at line 1, column \d+/);
    assert.match(await problem(loadConfigFile(d.dir, 'bad.yaml')), /^bad\.yaml: syntax error at line 3, column \d+/);
    assert.match(await problem(loadConfigFile(d.dir, 'empty.yaml')), /^empty\.yaml: the config file is empty/);
    assert.match(await problem(loadConfigFile(d.dir, 'bad.json')), /^bad\.json: syntax error at line 1, column 12/);
    assert.match(await problem(loadConfigFile(d.dir, 'missing.ts')), /^missing\.ts: config file not found/);
    assert.match(await problem(loadConfigFile(d.dir, '.')), /^\.: not a file/);
  } finally {
    d.remove();
  }
});

test('a config that never settles fails after the bound, naming the file', async () => {
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    const t0 = Date.now();
    const msg = await problem(settled('zsetup.config.ts', 300, () => new Promise(() => undefined)));
    assert.match(msg, /^zsetup\.config\.ts: the config did not finish loading within 300 ms/);
    assert.ok(Date.now() - t0 < 5000);
  } finally {
    clearInterval(keepAlive);
  }
});

test.run();
