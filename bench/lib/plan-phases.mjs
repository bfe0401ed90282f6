// Child of bench/plan-breakdown.mjs: does what `zsetup plan` does, phase by phase, and
// prints {phase: ms} as JSON. Incremental: each loading phase counts only modules not
// loaded by an earlier phase. Argument: the config file.
const marks = [['node bootstrap (process start to first line of the entry module)', performance.now()]];
const mark = (name) => marks.push([name, performance.now()]);
const dist = new URL('../../dist/', import.meta.url).href;
// CommonJS packages are loaded with require, as zsetup itself does (src/cjs.ts): import()
// of a CommonJS file adds Node's named-export scan.
const { createRequire } = await import('node:module');
const require = createRequire(new URL('../../dist/src/cjs.js', import.meta.url));

require('reflect-metadata'); mark('require reflect-metadata');
require('commander'); mark('require commander');
require('pg'); mark('require pg (+ pg-pool, pg-protocol, pg-types)');
require('tsyringe'); mark('require tsyringe');
await import(`${dist}src/api.js`); mark('import zsetup core (dist/src)');
await import(`${dist}plugins/index.js`); mark('import zsetup built-in plugins (dist/plugins)');
for (const m of ['plan', 'apply', 'status', 'output', 'exit']) await import(`${dist}src/cli/${m}.js`);
mark('import zsetup CLI command modules');
require('cosmiconfig'); mark('require cosmiconfig');
require('jiti'); mark('require jiti');
const { loadConfigFile } = await import(`${dist}src/config/load.js`);
const { loadProject } = await import(`${dist}index.js`);
const { Tokens } = await import(`${dist}src/container.js`);
const { planSteps } = await import(`${dist}src/plan/planner.js`);
const f = await loadConfigFile(process.cwd(), process.argv[2]); mark('load config (cosmiconfig + jiti: transpile cache, evaluate)');
const project = await loadProject({ config: f.exported, configFile: f.file, command: 'plan' }); mark('validate, container, prepare steps, checksums, graph');
const db = project.container.resolve(Tokens.Database);
await db.connect(); mark('connect to PostgreSQL');
const state = await project.container.resolve(Tokens.StateStore).load(); mark('load journal state');
const plan = planSteps({ steps: project.steps.map((s) => s.plan), state, checks: new Map() }); mark(`plan (${plan.entries.length} entries)`);
await db.close(); mark('close pool');
const out = {};
let prev = 0;
for (const [name, t] of marks) { out[name] = t - prev; prev = t; }
process.stdout.write(JSON.stringify(out) + '\n');
