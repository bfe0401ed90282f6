/**
 * `zsetup init` and `zsetup new` through the real CLI: init writes the example's project
 * (examples/kubernetes: one template) and apply runs it on PostgreSQL; init never
 * overwrites without --force (exit 2, naming the files); new writes the next numbered SQL
 * file and prints the line that, pasted into the config, applies it; bad names are refused.
 * Numbering and names in detail: test/unit/scaffold.test.ts.
 */
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cli, dbEachSuite, dir, type DbCtx } from '../helpers.js';

const t = dbEachSuite('init and new');

const EXAMPLE = join(ROOT, 'examples/kubernetes');
const INIT_FILES = ['zsetup.config.ts', 'sql/001_init.sql', 'deploy/zsetup-job.yaml', 'deploy/zsetup-secret.yaml'];
const z = (ctx: DbCtx, cwd: string, args: string[]) => cli(args, { cwd, url: ctx.db.url });
const ls = (d: string) => (existsSync(d) ? readdirSync(d).sort() : []);

/** The line `new` printed for the config (indented, on a line of its own). */
function printedLine(stdout: string): string {
  const m = /^ {4}(\S.*)$/m.exec(stdout);
  assert.ok(m, `new prints the config line:\n${stdout}`);
  return m![1]!;
}

/** `line` added to the template config's steps, after its last step. */
function addStep(configFile: string, line: string): void {
  const text = readFileSync(configFile, 'utf8');
  const at = text.lastIndexOf("    step('");
  assert.ok(at > 0, 'the template config has a step line');
  const end = text.indexOf('\n', at) + 1;
  writeFileSync(configFile, `${text.slice(0, end)}    ${line}\n${text.slice(end)}`);
}

t('init writes the example project (one template), prints it and the next commands; apply runs it', async (ctx) => {
  const d = dir(ctx, {});
  const r = await z(ctx, d.dir, ['init']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.is(r.stderr, '');
  for (const f of INIT_FILES) {
    assert.match(r.stdout, new RegExp(`^wrote ${f.replace('.', '\\.')} `, 'm'), `names ${f}`);
    assert.is(readFileSync(join(d.dir, f), 'utf8'), readFileSync(join(EXAMPLE, f), 'utf8'), `${f} is the example's`);
  }
  for (const next of ['npx zsetup plan', 'npx zsetup apply', 'npx zsetup new add users']) assert.ok(r.stdout.includes(next), `says ${next}:\n${r.stdout}`);
  assert.match(r.stdout, /examples\/kubernetes\/Dockerfile/);
  const applied = await z(ctx, d.dir, ['apply']);
  assert.is(applied.code, 0, applied.stdout + applied.stderr);
  assert.match(applied.stdout, /001_init/);
  assert.equal(await ctx.db.query("SELECT step, event FROM zsetup.journal WHERE event = 'done'"), [{ step: '001_init', event: 'done' }]);
  assert.equal(await ctx.db.query("SELECT column_name FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'settings' ORDER BY ordinal_position"), [
    { column_name: 'key' },
    { column_name: 'value' },
    { column_name: 'updated_at' },
  ]);
  const again = await z(ctx, d.dir, ['apply']);
  assert.is(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /Everything is up to date \(1 step, nothing to do\)/);
});

t('init refuses to overwrite: exit 2, names every file, writes nothing; --force overwrites; --dir', async (ctx) => {
  const d = dir(ctx, {});
  assert.is((await z(ctx, d.dir, ['init'])).code, 0);
  writeFileSync(join(d.dir, 'zsetup.config.ts'), '// mine\n');
  const again = await z(ctx, d.dir, ['init']);
  assert.is(again.code, 2, again.stdout + again.stderr);
  assert.is(again.stdout, '');
  for (const f of INIT_FILES) assert.ok(again.stderr.includes(f), `names ${f}:\n${again.stderr}`);
  assert.match(again.stderr, /nothing was written/);
  assert.match(again.stderr, /--force/);
  assert.not.match(again.stderr, /^\s+at /m, 'no stack trace');
  assert.is(readFileSync(join(d.dir, 'zsetup.config.ts'), 'utf8'), '// mine\n', 'left as it was');

  // One file in the way is enough, and only that one is named.
  const e = dir(ctx, { 'deploy/zsetup-job.yaml': 'mine\n' });
  const one = await z(ctx, e.dir, ['init']);
  assert.is(one.code, 2, one.stdout + one.stderr);
  assert.match(one.stderr, /this exists already, so nothing was written: deploy\/zsetup-job\.yaml\n/);
  assert.equal(ls(e.dir), ['deploy'], 'nothing else was written');

  // Another config zsetup would load (zitadel.setup.ts comes first in the search).
  const f = dir(ctx, { 'zitadel.setup.ts': '// theirs\n' });
  const other = await z(ctx, f.dir, ['init']);
  assert.is(other.code, 2, other.stdout + other.stderr);
  assert.match(other.stderr, /zitadel\.setup\.ts \(a config already\)/);
  assert.equal(ls(f.dir), ['zitadel.setup.ts']);

  // A file where init needs a folder: exit 2 before any file is written.
  const g = dir(ctx, { sql: 'a file\n' });
  const blocked = await z(ctx, g.dir, ['init']);
  assert.is(blocked.code, 2, blocked.stdout + blocked.stderr);
  assert.match(blocked.stderr, /cannot make the folder sql: a file is in the way; nothing was written/);
  assert.equal(ls(g.dir), ['sql']);

  const forced = await z(ctx, d.dir, ['init', '--force']);
  assert.is(forced.code, 0, forced.stdout + forced.stderr);
  assert.match(forced.stdout, /^overwrote zsetup\.config\.ts /m);
  assert.is(readFileSync(join(d.dir, 'zsetup.config.ts'), 'utf8'), readFileSync(join(EXAMPLE, 'zsetup.config.ts'), 'utf8'));

  // --dir: a folder of its own (created), and the next commands start with cd into it.
  const sub = await z(ctx, d.dir, ['init', '--dir', 'db/migrations']);
  assert.is(sub.code, 0, sub.stdout + sub.stderr);
  assert.match(sub.stdout, /^wrote db\/migrations\/zsetup\.config\.ts /m);
  assert.match(sub.stdout, /^ {2}cd db\/migrations$/m);
  for (const file of INIT_FILES) assert.ok(existsSync(join(d.dir, 'db/migrations', file)), file);
});

t('new writes the next numbered file and prints the config line; pasted in, apply runs it', async (ctx) => {
  const d = dir(ctx, {});
  assert.is((await z(ctx, d.dir, ['init'])).code, 0);
  const r = await z(ctx, d.dir, ['new', 'add', 'users']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^wrote sql\/002_add_users\.sql$/m);
  const line = printedLine(r.stdout);
  assert.is(line, "step('002_add_users', { sql: file('sql/002_add_users.sql') }),");
  assert.match(r.stdout, /zsetup\.config\.ts/, 'names the config');
  assert.equal(ls(join(d.dir, 'sql')), ['001_init.sql', '002_add_users.sql']);
  assert.match(readFileSync(join(d.dir, 'sql/002_add_users.sql'), 'utf8'), /^-- 002_add_users: /);
  assert.is(readFileSync(join(d.dir, 'zsetup.config.ts'), 'utf8'), readFileSync(join(EXAMPLE, 'zsetup.config.ts'), 'utf8'), 'the config is not edited');

  // Pasted in before the SQL is written: refused, naming the file; then it applies.
  addStep(join(d.dir, 'zsetup.config.ts'), line);
  const empty = await z(ctx, d.dir, ['apply']);
  assert.is(empty.code, 2, empty.stdout + empty.stderr);
  assert.match(empty.stderr, /no SQL statement in sql\/002_add_users\.sql/);
  writeFileSync(join(d.dir, 'sql/002_add_users.sql'), `${readFileSync(join(d.dir, 'sql/002_add_users.sql'), 'utf8')}CREATE TABLE app.users (id bigint PRIMARY KEY);\n`);
  const applied = await z(ctx, d.dir, ['apply']);
  assert.is(applied.code, 0, applied.stdout + applied.stderr);
  assert.equal(await ctx.db.query("SELECT step FROM zsetup.journal WHERE event = 'done' ORDER BY id"), [{ step: '001_init' }, { step: '002_add_users' }]);
  assert.equal(await ctx.db.query("SELECT to_regclass('app.users')::text AS t"), [{ t: 'app.users' }]);

  // The next one, from a subfolder's point of view: --config and --dir, paths relative to the config.
  const next = await cli(['new', 'Backfill', 'e-mails!', '--config', '../zsetup.config.ts', '--dir', '../sql'], { cwd: join(d.dir, 'deploy') });
  assert.is(next.code, 0, next.stdout + next.stderr);
  assert.match(next.stdout, /^wrote \.\.\/sql\/003_backfill_e_mails\.sql$/m);
  assert.is(printedLine(next.stdout), "step('003_backfill_e_mails', { sql: file('sql/003_backfill_e_mails.sql') }),");
});

t('new refuses an empty or invalid name (exit 2, nothing written), and works without init only with a config', async (ctx) => {
  const d = dir(ctx, {});
  assert.is((await z(ctx, d.dir, ['init'])).code, 0);
  for (const args of [['new'], ['new', '!!!'], ['new', '---', '...'], ['new', '日本語'], ['new', 'x'.repeat(65)]]) {
    const r = await z(ctx, d.dir, args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.is(r.stdout, '', args.join(' '));
    assert.not.match(r.stderr, /^\s+at /m, 'no stack trace');
  }
  assert.match((await z(ctx, d.dir, ['new'])).stderr, /missing required argument 'name'/);
  const bad = await z(ctx, d.dir, ['new', '!!!']);
  assert.match(bad.stderr, /"!!!" is not a name for a step: it has no letter or digit/);
  assert.match(bad.stderr, /hint: .*zsetup new add users/);
  assert.match((await z(ctx, d.dir, ['new', 'x'.repeat(65)])).stderr, /too long: .* 65 characters, at most 64/);
  assert.equal(ls(join(d.dir, 'sql')), ['001_init.sql'], 'nothing written');

  const none = dir(ctx, {});
  const r = await z(ctx, none.dir, ['new', 'add', 'users']);
  assert.is(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /no config found in this folder/);
  assert.match(r.stderr, /hint: run zsetup init/);
  assert.equal(ls(none.dir), []);
  const missing = await z(ctx, none.dir, ['new', 'x', '--config', 'nope.ts']);
  assert.is(missing.code, 2, missing.stdout + missing.stderr);
  assert.match(missing.stderr, /nope\.ts: config file not found/);
});

t("new prints the line in the config's own language (JSON, YAML); the JSON one applies", async (ctx) => {
  const d = dir(ctx, {
    '.zsetuprc.json': '{ "steps": [\n  { "name": "01_a", "sql": "CREATE TABLE a (id int)" }\n] }\n',
    'sql/01_a.sql': 'SELECT 1;\n',
    'sql/notes.txt': 'not numbered\n',
  });
  const r = await z(ctx, d.dir, ['new', 'b']);
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^wrote sql\/02_b\.sql$/m, 'padded as the existing ones: 2 digits');
  const line = printedLine(r.stdout);
  assert.is(line, '{ "name": "02_b", "file": "sql/02_b.sql" },');
  writeFileSync(join(d.dir, 'sql/02_b.sql'), 'CREATE TABLE b (id int);\n');
  writeFileSync(join(d.dir, '.zsetuprc.json'), `{ "steps": [\n  { "name": "01_a", "sql": "CREATE TABLE a (id int)" },\n  ${line.replace(/,$/, '')}\n] }\n`);
  const applied = await z(ctx, d.dir, ['apply']);
  assert.is(applied.code, 0, applied.stdout + applied.stderr);
  assert.equal(await ctx.db.query("SELECT to_regclass('b')::text AS t"), [{ t: 'b' }]);

  const y = dir(ctx, { '.zsetuprc.yaml': 'steps:\n  - { name: a, sql: SELECT 1 }\n' });
  const yr = await z(ctx, y.dir, ['new', 'c']);
  assert.is(yr.code, 0, yr.stdout + yr.stderr);
  assert.is(printedLine(yr.stdout), '- { name: "001_c", file: "sql/001_c.sql" }');
});

t('--help of init and new, and both in the top-level help', async (ctx) => {
  const d = dir(ctx, {});
  const top = await z(ctx, d.dir, ['--help']);
  assert.match(top.stdout, /^\s+init \[options\]/m);
  assert.match(top.stdout, /^\s+new \[options\] <name\.\.\.>/m);
  const init = await z(ctx, d.dir, ['init', '--help']);
  assert.is(init.code, 0, init.stderr);
  for (const re of [/Usage: zsetup init/, /--dir <path>/, /--force/, /zsetup\.config\.ts/]) assert.match(init.stdout, re);
  const nw = await z(ctx, d.dir, ['new', '--help']);
  assert.is(nw.code, 0, nw.stderr);
  for (const re of [/Usage: zsetup new \[options\] <name\.\.\.>/, /--dir <path>/, /--config <path>/, /002_add_users/]) assert.match(nw.stdout, re);
  assert.equal(ls(d.dir), [], 'help writes nothing');
});

t.run();
