/**
 * The transpile cache of TypeScript configs (src/config/transpile-cache.ts): a later load of
 * the same content runs the kept transform without jiti, and gives what jiti gives; a
 * changed config is never served stale; a damaged entry is ignored, not fatal; processes
 * that write the same entry at once leave one whole entry; a cache folder others can write
 * is not used.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { JITI_OPTIONS as OPTIONS, loadConfigFile } from '../../src/config/load.js';
import { entryPath, readEntry } from '../../src/config/transpile-cache.js';
import { ROOT, scratch, type Scratch } from '../helpers.js';

// One TMPDIR for this file (jiti keeps the folder it found first): the cache lives there,
// emptied before each test.
const shared = scratch();
const TMP = join(shared.dir, 'tmp');
mkdirSync(TMP);
process.env.TMPDIR = TMP;
// Not a test of the load bound: run from source, the first load transpiles zsetup itself
// (its alias is index.ts here), which took over 10 s under two CPU hogs.
const LOAD_BOUND_MS = 120_000;
const cacheFolder = () => join(TMP, `zsetup-transpile-${process.getuid!()}`);

async function withTmp(files: Record<string, string>, fn: (d: Scratch, tmp: string) => Promise<void>): Promise<void> {
  const d = scratch(files);
  rmSync(cacheFolder(), { recursive: true, force: true });
  try {
    await fn(d, TMP);
  } finally {
    d.remove();
  }
}

/** The entry key covers jiti's options as the loader sets them. */
const JITI_OPTIONS = JSON.stringify(OPTIONS);
const entryOf = (file: string) => entryPath({ filename: file, source: readFileSync(file, 'utf8') }, JITI_OPTIONS)!;
const entries = (_tmp: string) => readdirSync(cacheFolder());
/** An entry as the cache writes it: its body's hash on the first line. */
const entryText = (code: string) => `// zsetup-transpile-1 ${createHash('sha256').update(code).digest('hex')}\n${code}`;

/** Run a child process that loads `config` from `dir` and prints what came out. */
function loadInChild(dir: string, config: string, tmp: string): Promise<{ code: number | null; out: { value: unknown; jiti: boolean } | undefined; err: string }> {
  const probe = join(dir, 'probe.mts');
  writeFileSync(
    probe,
    `import { createRequire } from 'node:module';
import { loadConfigFile } from ${JSON.stringify(join(ROOT, 'src/config/load.ts'))};
const r = await loadConfigFile(${JSON.stringify(dir)}, ${JSON.stringify(config)}, ${LOAD_BOUND_MS});
const jiti = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/jiti/'));
process.stdout.write(JSON.stringify({ value: r.exported, jiti }));
`,
  );
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', probe], { cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err += b));
    child.on('close', (code) => {
      let parsed;
      try {
        parsed = JSON.parse(out);
      } catch {
        parsed = undefined;
      }
      resolve({ code, out: parsed, err });
    });
  });
}

// Only Node's builtins: a hit needs nothing of jiti.
const PLAIN = `import { join } from 'node:path';
import * as os from 'node:os';
import path from 'path';
interface Step { name: string; sql: string }
const steps: Step[] = [{ name: 'a', sql: 'SELECT 1' }];
export default { steps, joined: join('x', 'y'), sep: path.sep, eol: os.EOL, url: import.meta.url.startsWith('file://') };
`;

test('a hit runs the kept transform, and gives exactly what jiti gave', async () => {
  await withTmp(
    {
      'c.ts': `import { step } from 'zsetup';
import { helper } from './helper.ts';
import { join } from 'node:path';
enum Kind { A = 1, B }
export const named = 'n';
export default { steps: [step('a', { sql: 'SELECT 1' })], helper: helper(), kind: Kind.B, file: __filename.endsWith('c.ts'), dir: typeof __dirname, url: import.meta.url.endsWith('/c.ts'), dyn: (await import('./helper.ts')).helper(), joined: join('a', 'b') };
`,
      'helper.ts': `export const helper = (): string => 'helped';\n`,
    },
    async (d, tmp) => {
      const first = await loadConfigFile(d.dir, 'c.ts', LOAD_BOUND_MS);
      const entry = entryOf(join(d.dir, 'c.ts'));
      assert.ok(readEntry(entry), 'the transform is kept after the first load');
      assert.equal(entries(tmp).length, 1);
      const second = await loadConfigFile(d.dir, 'c.ts', LOAD_BOUND_MS);
      assert.equal(second.exported, first.exported, 'the hit gives what jiti gave');
      assert.equal((second.exported as { helper: string }).helper, 'helped');
      // Prove the hit path ran: an entry with other code (a valid one) is what is served.
      writeFileSync(entry, entryText(`exports.default = { steps: [], marker: 'from the cache' };`));
      assert.equal((await loadConfigFile(d.dir, 'c.ts', LOAD_BOUND_MS)).exported, { steps: [], marker: 'from the cache' });
    },
  );
});

test("a config's own TypeScript files come from the cache too: a split config loads without jiti", async () => {
  await withTmp(
    {
      'split.ts': `import { lib } from './lib/one.js';\nexport default { steps: [], value: lib() };\n`,
      'lib/one.ts': `import { deep } from './two.ts';\nexport const lib = (): string => \`one+\${deep}\`;\n`,
      'lib/two.ts': `export const deep: string = 'two';\n`,
    },
    async (d, tmp) => {
      const runs = [];
      for (let i = 0; i < 3; i++) runs.push(await loadInChild(d.dir, 'split.ts', tmp));
      for (const r of runs) assert.equal((r.out?.value as { value?: string })?.value, 'one+two', r.err);
      assert.is(runs[0]!.out?.jiti, true, 'the first load goes through jiti');
      assert.is(runs[1]!.out?.jiti, true, 'the second transforms the config files (the config itself is a hit)');
      assert.is(runs[2]!.out?.jiti, false, 'the third: the config and both of its files come from the cache');
      assert.is(entries(tmp).length, 3);
    },
  );
});

test('a changed config is never served stale (same size, same mtime)', async () => {
  await withTmp({ 'c.ts': "export default { steps: [], v: 'one' };\n" }, async (d, tmp) => {
    const file = join(d.dir, 'c.ts');
    assert.equal((await loadConfigFile(d.dir, 'c.ts', LOAD_BOUND_MS)).exported, { steps: [], v: 'one' });
    assert.equal((await loadConfigFile(d.dir, 'c.ts', LOAD_BOUND_MS)).exported, { steps: [], v: 'one' });
    const { atime, mtime } = statSync(file);
    writeFileSync(file, "export default { steps: [], v: 'two' };\n");
    utimesSync(file, atime, mtime);
    assert.equal((await loadConfigFile(d.dir, 'c.ts', LOAD_BOUND_MS)).exported, { steps: [], v: 'two' });
    // And back: the first content's entry is still good.
    writeFileSync(file, "export default { steps: [], v: 'one' };\n");
    assert.equal((await loadConfigFile(d.dir, 'c.ts', LOAD_BOUND_MS)).exported, { steps: [], v: 'one' });
    assert.equal(entries(tmp).length, 2, 'one entry per content');
  });
});

test('a damaged entry is ignored, not fatal, and written again', async () => {
  await withTmp({ 'c.ts': PLAIN }, async (d) => {
    const expected = (await loadConfigFile(d.dir, 'c.ts', LOAD_BOUND_MS)).exported;
    const entry = entryOf(join(d.dir, 'c.ts'));
    const good = readFileSync(entry, 'utf8');
    const damaged = {
      garbage: 'garbage \u0000\u00ff not javascript {{{',
      empty: '',
      'cut short': good.slice(0, good.length - 20),
      'body changed, hash kept': good.replace("'a'", "'b'"),
      'no header': good.slice(good.indexOf('\n') + 1),
      'another format': good.replace('zsetup-transpile-1', 'zsetup-transpile-0'),
    };
    for (const [what, text] of Object.entries(damaged)) {
      writeFileSync(entry, text);
      assert.equal((await loadConfigFile(d.dir, 'c.ts', LOAD_BOUND_MS)).exported, expected, what);
      assert.is(readFileSync(entry, 'utf8'), good, `${what}: the entry is written again`);
    }
  });
});

test('a hit needs no jiti: a new process loads the config without it', async () => {
  await withTmp({ 'c.ts': PLAIN }, async (d, tmp) => {
    const first = await loadInChild(d.dir, 'c.ts', tmp);
    assert.is(first.code, 0, first.err);
    assert.ok(first.out?.jiti, 'the first load goes through jiti');
    const second = await loadInChild(d.dir, 'c.ts', tmp);
    assert.is(second.code, 0, second.err);
    assert.equal(second.out?.value, first.out?.value);
    assert.is(second.out?.jiti, false, 'a hit does not even require jiti');
  });
});

test('processes that write the same entry at once leave one whole entry', async () => {
  await withTmp({ 'c.ts': PLAIN.replace("'SELECT 1'", "'SELECT 2'") }, async (d, tmp) => {
    const runs = await Promise.all(Array.from({ length: 6 }, () => loadInChild(d.dir, 'c.ts', tmp)));
    for (const r of runs) assert.is(r.code, 0, r.err);
    const values = runs.map((r) => JSON.stringify(r.out?.value));
    assert.is(new Set(values).size, 1, 'every process got the same config');
    assert.equal(entries(tmp), [entryOf(join(d.dir, 'c.ts')).split('/').pop()], 'one entry, no leftover temporary files');
    assert.ok(readEntry(entryOf(join(d.dir, 'c.ts'))), 'the entry is whole');
    // Readers and writers at once: every reader gets a whole entry or none.
    writeFileSync(join(d.dir, 'c.ts'), PLAIN.replace("'SELECT 1'", "'SELECT 3'"));
    const mixed = await Promise.all(Array.from({ length: 6 }, () => loadInChild(d.dir, 'c.ts', tmp)));
    for (const r of mixed) assert.is(r.code, 0, r.err);
    assert.is(new Set(mixed.map((r) => JSON.stringify(r.out?.value))).size, 1);
  });
});

test('nothing is kept for a config that fails to load, with the cache off, or in a folder others can write', async () => {
  await withTmp({ 'syntax.ts': 'export default { steps: [ };\n', 'throws.ts': "throw new Error('no');\n", 'c.ts': PLAIN }, async (d, tmp) => {
    await loadConfigFile(d.dir, 'syntax.ts').catch(() => undefined);
    await loadConfigFile(d.dir, 'throws.ts').catch(() => undefined);
    assert.equal(entries(tmp), [], 'a config that did not load is not kept');
    process.env.ZSETUP_TRANSPILE_CACHE = '0';
    try {
      await loadConfigFile(d.dir, 'c.ts', LOAD_BOUND_MS);
      assert.equal(entries(tmp), [], 'ZSETUP_TRANSPILE_CACHE=0 keeps nothing');
    } finally {
      delete process.env.ZSETUP_TRANSPILE_CACHE;
    }
    const dir = cacheFolder();
    chmodSync(dir, 0o777);
    try {
      const r = await loadConfigFile(d.dir, 'c.ts', LOAD_BOUND_MS);
      assert.is((r.exported as { joined: string }).joined, join('x', 'y'));
      assert.equal(entries(tmp), [], 'a cache folder others can write is not used');
      assert.is(entryPath({ filename: join(d.dir, 'c.ts'), source: PLAIN }, JITI_OPTIONS), undefined);
    } finally {
      chmodSync(dir, 0o700);
    }
    await loadConfigFile(d.dir, 'c.ts', LOAD_BOUND_MS);
    assert.is(entries(tmp).length, 1);
  });
});

test.after(() => shared.remove());
test.run();
