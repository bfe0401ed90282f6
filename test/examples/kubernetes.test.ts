/**
 * examples/kubernetes cannot rot: its Dockerfile is replayed without Docker and what the
 * Job would run is run.
 *
 * 1. The build context, as README.md says to make it: the example's files, this repository
 *    packed into vendor/zsetup.tgz (`npm pack`, of the dist/ built here), and a
 *    package-lock.json. (README.md runs `npm install --package-lock-only`, which needs the
 *    registry; here the lock is derived from the repository's own, offline.)
 * 2. The Dockerfile, instruction by instruction: each stage is a folder standing for its
 *    file system; COPY copies from the context (or a stage), RUN runs in the stage's
 *    WORKDIR with npm offline (`--offline`, and a proxy that refuses every connection: the
 *    npm cache is the only source), ENV and USER are kept. An instruction it does not know
 *    fails the test, so the Dockerfile cannot outgrow it unnoticed.
 * 3. The image: ENTRYPOINT with the Job's args, with CMD, and with the init container's
 *    args, against a scratch PostgreSQL database through ZSETUP_DATABASE_URL, as the
 *    Dockerfile's USER (when the test runs as root and setpriv exists) over files owned by
 *    root, with a TMPDIR nobody can write (the Job's read-only root file system).
 * 4. The manifests (parsed with js-yaml): --deadline below activeDeadlineSeconds with room
 *    for the pod to start, terminationGracePeriodSeconds above the config's own
 *    apply.cleanupDeadline, the Secret and key the env refers to, exit codes 2 and 4 failing
 *    the Job, the user the image runs as.
 * 5. `zsetup init` of the installed package writes the example's files: the templates ship.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { loadProject, parseDuration } from 'zsetup';
import { ROOT, createDb, type TestDb } from '../helpers.js';

const EXAMPLE = join(ROOT, 'examples/kubernetes');
const yaml = createRequire(join(ROOT, 'package.json'))('js-yaml') as { loadAll(text: string): unknown[] };

// ------------------------------------------------------------------ processes

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  ms: number;
}

/** Run argv to its end (killed after timeoutMs), stdout and stderr together. */
function run(argv: string[], o: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Done> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 180_000);
    child.on('error', (err) => {
      out += String(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, ms: Date.now() - t0 });
    });
  });
}

const show = (argv: string[], r: Done) => `${argv.join(' ')}: exit ${r.code ?? r.signal} after ${r.ms} ms\n${r.out}`;

// ------------------------------------------------------------------ the Dockerfile

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** The Dockerfile's instructions: comments and blank lines dropped, continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    if (/^\s*#/.test(raw) || (buf === '' && raw.trim() === '')) return;
    if (buf === '') start = i + 1;
    if (/\\\s*$/.test(raw)) {
      buf += `${raw.replace(/\\\s*$/, '')} `;
      return;
    }
    buf += raw;
    const m = /^\s*([A-Za-z]+)\s+([^]*)$/.exec(buf);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot read ${JSON.stringify(buf)}`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
    buf = '';
  });
  return out;
}

/** `--flag=value` options at the start of an instruction's arguments, and the rest. */
function flagsOf(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (let m = /^--([a-z]+)=(\S+)\s+/.exec(rest); m; m = /^--([a-z]+)=(\S+)\s+/.exec(rest)) {
    flags[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

/** The exec (JSON) form: ENTRYPOINT and CMD must use it (the shell form would make sh PID 1). */
function execForm(i: Instruction): string[] {
  const v = JSON.parse(i.args) as unknown;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`Dockerfile line ${i.line}: ${i.op} in the exec form (a JSON array of strings)`);
  return v as string[];
}

interface Stage {
  name: string;
  base: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  entrypoint?: string[];
  cmd?: string[];
}

/**
 * Replay `instructions` with `context` as the build context, each stage in a folder under
 * `into`. `runEnv` is the environment of RUN lines (with the stage's ENV over it).
 */
async function replay(instructions: Instruction[], context: string, into: string, runEnv: NodeJS.ProcessEnv, log: string[]): Promise<Stage[]> {
  const ignored = new Set(
    readFileSync(join(context, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim().replace(/\/$/, ''))
      .filter((l) => l && !l.startsWith('#')),
  );
  const stages: Stage[] = [];
  const at = (s: Stage, p: string) => join(s.root, isAbsolute(p) ? p : join(s.workdir, p));
  for (const i of instructions) {
    const where = `Dockerfile line ${i.line} (${i.op} ${i.args})`;
    const s = stages[stages.length - 1];
    if (i.op !== 'FROM' && !s) throw new Error(`${where}: before any FROM`);
    switch (i.op) {
      case 'FROM': {
        const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
        if (!m) throw new Error(`${where}: FROM image [AS name]`);
        const root = join(into, `stage-${stages.length}`);
        mkdirSync(root, { recursive: true });
        stages.push({ name: m[2] ?? String(stages.length), base: m[1]!, root, workdir: '/', env: {} });
        break;
      }
      case 'WORKDIR':
        s!.workdir = isAbsolute(i.args) ? i.args : join(s!.workdir, i.args);
        mkdirSync(at(s!, '.'), { recursive: true });
        break;
      case 'ENV': {
        const m = /^(\w+)(?:=|\s+)(.*)$/.exec(i.args);
        if (!m) throw new Error(`${where}: ENV NAME=value`);
        s!.env[m[1]!] = m[2]!;
        break;
      }
      case 'USER':
        s!.user = i.args;
        break;
      case 'ENTRYPOINT':
        s!.entrypoint = execForm(i);
        break;
      case 'CMD':
        s!.cmd = execForm(i);
        break;
      case 'COPY': {
        const { flags, rest } = flagsOf(i.args);
        for (const f of Object.keys(flags)) if (f !== 'from') throw new Error(`${where}: COPY --${f} is not replayed; teach test/examples/kubernetes.test.ts`);
        const parts = rest.split(/\s+/);
        if (parts.length < 2 || parts.some((p) => /[*?[]/.test(p))) throw new Error(`${where}: COPY src... dest, without wildcards`);
        const dest = parts.pop()!;
        const from = flags.from !== undefined ? stages.find((x) => x.name === flags.from) : undefined;
        if (flags.from !== undefined && !from) throw new Error(`${where}: no stage ${flags.from} before it`);
        const toDir = dest.endsWith('/') || parts.length > 1;
        for (const src of parts) {
          const path = from ? join(from.root, isAbsolute(src) ? src : join('/', src)) : join(context, src);
          if (!from && ignored.has(src.replace(/^\.\//, '').split('/')[0]!)) throw new Error(`${where}: ${src} is in .dockerignore: docker build would not find it`);
          if (!existsSync(path)) throw new Error(`${where}: ${src} does not exist (in ${from ? `stage ${from.name}` : 'the build context'})`);
          const target = at(s!, dest);
          const isDir = readdirSafe(path) !== undefined;
          // A folder's contents go into dest, as Docker copies them; a file into dest/ or as dest.
          const to = isDir ? target : toDir ? join(target, basename(src)) : target;
          mkdirSync(dirname(to), { recursive: true });
          cpSync(path, to, { recursive: true });
        }
        break;
      }
      case 'RUN': {
        const { flags, rest } = flagsOf(i.args);
        for (const [f, v] of Object.entries(flags)) {
          // A cache mount keeps npm's cache between builds, out of the image: npm's own cache here.
          if (f !== 'mount' || !v.startsWith('type=cache,')) throw new Error(`${where}: RUN --${f}=${v} is not replayed; teach test/examples/kubernetes.test.ts`);
        }
        const argv = rest.startsWith('[') ? execForm({ ...i, args: rest }) : ['sh', '-c', rest];
        const r = await run(argv, { cwd: at(s!, '.'), env: { ...runEnv, ...s!.env }, timeoutMs: 240_000 });
        log.push(`${where}: ${r.ms} ms`);
        const hint = /ENOTCACHED/.test(r.out) ? '\n(npm runs offline here, from its cache: `npm ci` in the repository fills it)' : '';
        assert.is(r.code, 0, `${where}\n${show(argv, r)}${hint}`);
        break;
      }
      default:
        throw new Error(`${where}: ${i.op} is not replayed; teach test/examples/kubernetes.test.ts`);
    }
  }
  return stages;
}

function readdirSafe(p: string): string[] | undefined {
  try {
    return readdirSync(p);
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ the manifests

type Doc = Record<string, any>;
const docs = (file: string) => yaml.loadAll(readFileSync(join(EXAMPLE, file), 'utf8')).filter(Boolean) as Doc[];
const one = (file: string, kind: string) => {
  const found = docs(file).filter((d) => d.kind === kind);
  assert.is(found.length, 1, `one ${kind} in ${file}`);
  return found[0]!;
};
/** The value after `flag` in args, as seconds. */
function flagSeconds(args: string[], flag: string): number | undefined {
  const i = args.indexOf(flag);
  if (i < 0) return undefined;
  const ms = parseDuration(args[i + 1]);
  assert.ok(ms !== undefined, `${flag} ${args[i + 1]} is a duration`);
  return ms! / 1000;
}

// ------------------------------------------------------------------ the test

let db: TestDb | undefined;
let work: string | undefined;

test.before(async () => {
  db = await createDb();
  // Outside the repository (no node_modules above it to fall back on), readable by the
  // image's user: the folders are 0755, the files root's when run as root.
  work = mkdtempSync(join(tmpdir(), 'zs-k8s-'));
  chmodSync(work, 0o755);
});
test.after(async () => {
  await db?.drop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the Dockerfile, replayed without Docker, builds an image whose ENTRYPOINT applies the project with the Job\'s args, CMD and the init container\'s', async () => {
  const t0 = Date.now();
  const log: string[] = [];
  // 1. The build context.
  const context = join(work!, 'context');
  cpSync(EXAMPLE, context, { recursive: true, filter: (src) => !/[/\\](node_modules|vendor|\.zsetup)$|package-lock\.json$/.test(src) });
  mkdirSync(join(context, 'vendor'));
  // npm walks the repository to pack it, while other tests make and remove their folders
  // under test/.tmp: a folder gone mid-walk fails it (ENOENT). Such a race is tried again.
  let packed = await run(['npm', 'pack', ROOT, '--ignore-scripts', '--pack-destination', join(context, 'vendor'), '--silent'], { cwd: context, env: process.env });
  for (let i = 0; i < 2 && packed.code !== 0; i++) packed = await run(['npm', 'pack', ROOT, '--ignore-scripts', '--pack-destination', join(context, 'vendor')], { cwd: context, env: process.env });
  assert.is(packed.code, 0, show(['npm pack'], packed));
  const tgz = readdirSync(join(context, 'vendor')).find((f) => f.endsWith('.tgz'));
  assert.ok(tgz, `npm pack wrote a tarball:\n${packed.out}`);
  renameSync(join(context, 'vendor', tgz!), join(context, 'vendor/zsetup.tgz'));
  log.push(`npm pack: ${packed.ms} ms`);
  const example = JSON.parse(readFileSync(join(context, 'package.json'), 'utf8'));
  assert.is(example.dependencies.zsetup, 'file:vendor/zsetup.tgz', 'the example installs the tarball README.md makes');
  writeFileSync(join(context, 'package-lock.json'), JSON.stringify(lockFor(example, join(context, 'vendor/zsetup.tgz')), null, 2));

  // 2. The Dockerfile.
  const instructions = parseDockerfile(readFileSync(join(context, 'Dockerfile'), 'utf8'));
  const runEnv: NodeJS.ProcessEnv = { ...process.env, npm_config_offline: 'true', npm_config_proxy: 'http://127.0.0.1:9', npm_config_https_proxy: 'http://127.0.0.1:9', npm_config_update_notifier: 'false', npm_config_loglevel: 'error' };
  for (const k of Object.keys(runEnv)) if (k.startsWith('ZSETUP_')) delete runEnv[k];
  const stages = await replay(instructions, context, join(work!, 'image'), runEnv, log);
  assert.ok(stages.length >= 2, 'multi-stage');
  const image = stages[stages.length - 1]!;
  assert.equal(new Set(stages.map((s) => s.base)).size, 1, `one base image for every stage: ${stages.map((s) => s.base).join(', ')}`);
  assert.match(image.base, /^node:20[.-]/, 'Node 20, pinned to a major version at least');
  const runs = instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
  const lastFrom = instructions.map((i) => i.op).lastIndexOf('FROM');
  assert.ok(instructions.slice(lastFrom).some((i) => i.op === 'RUN' && /\bnpm ci --omit=dev\b/.test(i.args)), `npm ci --omit=dev in the final stage:\n${runs.join('\n')}`);
  const app = join(image.root, image.workdir);
  for (const f of ['zsetup.config.ts', 'sql/001_init.sql', 'node_modules/zsetup/dist/cli.js']) assert.ok(existsSync(join(app, f)), `the image has ${f}`);
  assert.not.ok(existsSync(join(app, 'node_modules/typescript')), 'no dev dependency in the image');
  // The check stage planned the project against an empty database; the image keeps its plan.
  const plans = readdirSync(app).filter((f) => f.includes('plan'));
  assert.is(plans.length, 1, `the check stage's plan in the image: ${readdirSync(app).join(', ')}`);
  assert.match(readFileSync(join(app, plans[0]!), 'utf8'), /001_init\s+run/);

  // 3. The image's commands, as its USER would run them.
  assert.ok(image.entrypoint && image.cmd, 'ENTRYPOINT and CMD');
  assert.equal(image.cmd, ['apply']);
  const job = one('deploy/zsetup-job.yaml', 'Job');
  const jobContainer = job.spec.template.spec.containers[0];
  const deployment = one('deployment-initcontainer.yaml', 'Deployment');
  const initContainer = deployment.spec.template.spec.initContainers[0];
  const uid = /^(\d+)(?::(\d+))?$/.exec(image.user ?? '');
  assert.ok(uid && Number(uid[1]) !== 0, `USER is a numeric non-root user (Kubernetes' runAsNonRoot checks a number): ${image.user}`);
  const asUser = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0 ? ['setpriv', `--reuid=${uid![1]}`, `--regid=${uid![2] ?? uid![1]}`, '--clear-groups', '--'] : [];
  log.push(asUser.length ? `commands run as uid ${uid![1]}` : 'commands run as the test user (not root, or no setpriv)');
  const readOnlyTmp = join(work!, 'read-only-tmp');
  mkdirSync(readOnlyTmp);
  chmodSync(readOnlyTmp, 0o555);
  const mapped = (arg: string) => (isAbsolute(arg) && existsSync(join(image.root, arg)) ? join(image.root, arg) : arg);
  const runImage = async (args: string[]) => {
    const argv = [...asUser, ...[...image.entrypoint!, ...args].map(mapped)];
    const env = { PATH: process.env.PATH, HOME: '/nonexistent', TMPDIR: readOnlyTmp, ...image.env, ZSETUP_DATABASE_URL: db!.url };
    const r = await run(argv, { cwd: app, env, timeoutMs: 120_000 });
    log.push(`${args.join(' ')}: ${r.ms} ms`);
    return { r, what: show(argv, r) };
  };
  const first = await runImage(jobContainer.args);
  assert.is(first.r.code, 0, first.what);
  assert.match(first.r.out, /1 applied/, first.what);
  for (const args of [image.cmd!, initContainer.args]) {
    const again = await runImage(args);
    assert.is(again.r.code, 0, again.what);
    assert.match(again.r.out, /up to date/, again.what);
  }
  assert.equal(await db!.query("SELECT step FROM zsetup.journal WHERE event = 'done'"), [{ step: '001_init' }]);
  assert.equal(await db!.query("SELECT to_regclass('app.settings')::text AS t"), [{ t: 'app.settings' }]);
  assert.not.ok(existsSync(join(app, '.zsetup')), 'nothing written beside the config');

  // 5. init of the installed package writes these very files.
  const fresh = join(work!, 'fresh');
  const init = await run(['node', join(app, 'node_modules/zsetup/dist/cli.js'), 'init', '--dir', fresh], { cwd: work!, env: process.env });
  assert.is(init.code, 0, show(['zsetup init'], init));
  for (const f of ['zsetup.config.ts', 'sql/001_init.sql', 'deploy/zsetup-job.yaml', 'deploy/zsetup-secret.yaml']) {
    assert.is(readFileSync(join(fresh, f), 'utf8'), readFileSync(join(EXAMPLE, f), 'utf8'), `init of the package writes the example's ${f}`);
  }
  log.push(`total: ${Date.now() - t0} ms`);
  process.stdout.write(`${log.map((l) => `  ${l}`).join('\n')}\n`);
});

test('the manifests: --deadline below activeDeadlineSeconds, grace above cleanupDeadline, the Secret, retries, the user', async () => {
  const project = await loadProject({ configFile: join(EXAMPLE, 'zsetup.config.ts'), command: 'apply', cwd: EXAMPLE, env: {} });
  const cleanupS = project.config.apply.cleanupDeadlineMs / 1000;
  const secret = one('deploy/zsetup-secret.yaml', 'Secret');
  const job = one('deploy/zsetup-job.yaml', 'Job');
  const deployment = one('deployment-initcontainer.yaml', 'Deployment');
  const dockerUser = parseDockerfile(readFileSync(join(EXAMPLE, 'Dockerfile'), 'utf8')).filter((i) => i.op === 'USER').pop()!.args;

  const spec = job.spec;
  const pod = spec.template.spec;
  const c = pod.containers[0];
  assert.is(pod.containers.length, 1);
  assert.ok(Number.isInteger(spec.backoffLimit) && spec.backoffLimit >= 1, `backoffLimit: ${spec.backoffLimit}`);
  assert.is(c.args[0], 'apply');
  const deadline = flagSeconds(c.args, '--deadline');
  assert.ok(deadline !== undefined, `the Job passes --deadline: ${c.args.join(' ')}`);
  const active = spec.activeDeadlineSeconds;
  assert.ok(deadline! < active, `--deadline ${deadline} s is below activeDeadlineSeconds ${active}`);
  assert.ok(active - deadline! >= 60, `activeDeadlineSeconds leaves at least a minute for the pod to start: ${active} - ${deadline}`);
  assert.ok(deadline! > 4 * cleanupS, `--deadline ${deadline} s leaves room for work after cleanupDeadline ${cleanupS} s`);
  for (const [what, p] of [['Job', pod], ['Deployment', deployment.spec.template.spec]] as const) {
    assert.ok(p.terminationGracePeriodSeconds > cleanupS, `${what}: terminationGracePeriodSeconds ${p.terminationGracePeriodSeconds} above apply.cleanupDeadline ${cleanupS} s`);
    assert.is(p.shareProcessNamespace, true, `${what}: zsetup is not PID 1`);
    assert.is(p.securityContext.runAsNonRoot, true, what);
    assert.is(String(p.securityContext.runAsUser), dockerUser.split(':')[0], `${what}: runs as the Dockerfile's USER`);
  }
  assert.is(pod.restartPolicy, 'Never', 'podFailurePolicy needs it');
  const failJob = spec.podFailurePolicy.rules.find((r: Doc) => r.action === 'FailJob');
  assert.equal(failJob.onExitCodes, { containerName: c.name, operator: 'In', values: [2, 4] }, 'config errors and drift fail the Job at once');

  const init = deployment.spec.template.spec.initContainers[0];
  assert.is(init.args[0], 'apply');
  assert.ok((flagSeconds(init.args, '--lock-timeout') ?? 0) >= 60, 'waiting replicas wait for the lock');
  assert.is(init.image, c.image, 'one image');
  for (const [what, env] of [['Job', c.env], ['init container', init.env]] as const) {
    const url = env.find((e: Doc) => e.name === 'ZSETUP_DATABASE_URL');
    assert.equal(url?.valueFrom?.secretKeyRef, { name: secret.metadata.name, key: Object.keys(secret.stringData)[0] }, `${what}: ZSETUP_DATABASE_URL from the Secret`);
  }
  assert.equal(Object.keys(secret.stringData), ['url']);
  assert.match(secret.stringData.url, /^postgres:\/\//);
});

/**
 * The package-lock.json `npm install --package-lock-only` would write for `example`, made
 * offline: the tarball for zsetup, and for its dependencies the repository's own lock
 * entries (those not dev-only), which npm ci then takes from its cache.
 */
function lockFor(example: { name: string; dependencies: Record<string, string> }, tgzPath: string): unknown {
  const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, Doc> };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const spec = example.dependencies.zsetup!;
  const packages: Record<string, unknown> = {
    '': { name: example.name, dependencies: example.dependencies },
    'node_modules/zsetup': {
      version: pkg.version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tgzPath)).digest('base64')}`,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [path, entry] of Object.entries(repoLock.packages)) {
    if (path.startsWith('node_modules/') && !entry.dev && !entry.devOptional) packages[path] = entry;
  }
  return { name: example.name, lockfileVersion: 3, requires: true, packages };
}

test.run();
