#!/usr/bin/env node
// Runs every test/**/*.test.ts in its own process (uvu, loaded through tsx), a few at a
// time, longest first (by the durations of earlier runs),
// and ends with one line "N passed, N failed" that CI reads.
// Usage: node test/run.mjs [filter...]   (a filter is a substring of the file path)
// Environment: ZSETUP_TEST_PARALLEL (files at once; by default two per idle core, at least
// two), ZSETUP_TEST_FILE_TIMEOUT (ms per file), ZSETUP_TEST_WASM_TIERUP=1 (PGlite's
// WebAssembly with V8's optimising tier too, as shipped; see test/liftoff.mjs).
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { availableParallelism, cpus } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    if (name === '.tmp' || name === 'fixtures' || name === 'node_modules') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(relative(root, p));
  }
})(join(root, 'test'));
const selected = filters.length ? files.filter((f) => filters.some((x) => f.includes(x))) : files;

// Longest first, so that the last file to finish is a short one: by the durations of the
// last run here (test/.tmp/durations.json), else by test/durations.json (committed). A file
// in neither counts as long (it starts early rather than end the run alone).
const durationsFile = join(root, 'test/.tmp/durations.json');
const readJson = (p) => {
  try {
    return JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    return {};
  }
};
const durations = { ...readJson(join(root, 'test/durations.json')), ...readJson(durationsFile) };
const expected = (f) => durations[f] ?? 60;
selected.sort((a, b) => expected(b) - expected(a) || a.localeCompare(b));

// One initialised PGlite data dir per run, which tests copy (test/helpers.ts, pgliteDataDir).
const pgliteTemplate = join(root, 'test/.tmp', `pglite-template-${process.pid}`);
// Baseline-compiled WebAssembly for the test processes and the CLIs they start (test/liftoff.mjs).
const nodeOptions = process.env.ZSETUP_TEST_WASM_TIERUP === '1' ? process.env.NODE_OPTIONS : [process.env.NODE_OPTIONS, `--import ${pathToFileURL(join(root, 'test/liftoff.mjs')).href}`].filter(Boolean).join(' ');

/** The share of CPU time idle over the next `ms` (all cores). */
async function idleShare(ms) {
  const total = () => cpus().reduce((a, c) => ((a.idle += c.times.idle), (a.all += Object.values(c.times).reduce((x, y) => x + y, 0)), a), { idle: 0, all: 0 });
  const a = total();
  await new Promise((r) => setTimeout(r, ms));
  const b = total();
  return b.all > a.all ? (b.idle - a.idle) / (b.all - a.all) : 1;
}
// Most files spend their time waiting for child processes and PostgreSQL, so two files per
// idle core keep the CPU busy (4 on a quiet two-core machine). On a machine that is busy
// already (CPU hogs, other runs), fewer at once: the processes under test then keep enough
// CPU to meet their own deadlines, and the run takes longer instead.
const cores = availableParallelism();
const idle = process.env.ZSETUP_TEST_PARALLEL ? undefined : await idleShare(1000);
const parallel = Number(process.env.ZSETUP_TEST_PARALLEL || Math.max(2, Math.min(8, Math.round(2 * cores * idle))));
process.stdout.write(`${selected.length} files, ${parallel} at once${idle === undefined ? '' : ` (CPU ${Math.round(100 * idle)}% idle at the start)`}\n`);

let passed = 0, failed = 0, skipped = 0;
const failures = [];
const t0 = Date.now();

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0', NODE_DISABLE_COLORS: '1', ZSETUP_TEST_PGLITE_TEMPLATE: pgliteTemplate, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), Number(process.env.ZSETUP_TEST_FILE_TIMEOUT || 240_000));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
      const skip = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
      let f;
      if (Number.isNaN(total)) f = 1; // crashed before uvu's summary
      else {
        f = total - ok - skip;
        if (code !== 0 && f === 0) f = 1;
        passed += ok;
        skipped += skip;
      }
      failed += f;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (!f) durations[file] = Number(secs);
      process.stdout.write(`${f ? 'FAIL' : 'ok  '} ${file} (${Number.isNaN(ok) ? 0 : ok} passed, ${f} failed, ${secs} s)${signal ? ` killed by ${signal}` : ''}\n`);
      if (f) failures.push({ file, out });
      resolve();
    });
  });
}

const queue = [...selected];
await Promise.all(Array.from({ length: Math.min(parallel, queue.length) }, async () => {
  while (queue.length) await runFile(queue.shift());
}));
rmSync(pgliteTemplate, { recursive: true, force: true });
rmSync(`${pgliteTemplate}.lock`, { recursive: true, force: true });
try {
  mkdirSync(join(root, 'test/.tmp'), { recursive: true });
  writeFileSync(durationsFile, `${JSON.stringify(durations, null, 1)}\n`);
} catch {
  // a read-only checkout: next time in file order again
}
for (const { file, out } of failures) process.stdout.write(`\n----- ${file} -----\n${out}\n`);
process.stdout.write(`\n${selected.length} files in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exitCode = failed > 0 || selected.length === 0 ? 1 : 0;
