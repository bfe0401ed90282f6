/**
 * The load pipeline every command starts with: find and load the config, validate it
 * (every problem at once), build the container, prepare each step through its kind,
 * build the graph. Touches no database: a config error leaves it untouched.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { relative } from 'node:path';
import type { DependencyContainer } from 'tsyringe';
import type { ConfigCommand, ConfigExport, Plugin, Prepared, StepDefinition, StepKind, UserConfig } from './dsl.js';
import { loadConfigFile, settled, describeLoadError, CONFIG_TIMEOUT_MS } from './load.js';
import { MAX_DURATION_MS, parseDuration } from './duration.js';
import { resolveConfig, checkStepFields, guarded, Problems, type ConfigFlags, type ResolvedConfig } from './resolve.js';
import { buildContainer, resolveAllOrNone, resolveContract, REQUIRED_CONTRACTS, Tokens, type Registrations } from '../container.js';
import { ConfigError, causeChain, describeThrown } from '../errors.js';
import { EngineEvents } from '../engine/events.js';
import { checkLockKind } from '../lock/kinds.js';
import { buildGraph, didYouMean } from '../plan/graph.js';
import { checksum } from '../plan/checksum.js';
import type { PlanStep } from '../plan/planner.js';

export interface ResolvedStep {
  readonly def: StepDefinition;
  /** Position in the config's `steps`. */
  readonly index: number;
  readonly kind: StepKind<any>;
  readonly prepared: Prepared;
  readonly plan: PlanStep;
}

export interface Project {
  readonly config: ResolvedConfig;
  readonly container: DependencyContainer;
  readonly events: EngineEvents;
  /** In execution order. */
  readonly steps: readonly ResolvedStep[];
  /** Which plugin registered which token (for messages). */
  readonly registrations?: Registrations;
}

export interface LoadOptions {
  /** Working directory (where the config is searched). @default process.cwd() */
  cwd?: string;
  /** Path of the config file (`--config`). */
  configFile?: string;
  /** A config object instead of a file (programmatic use); `configFile` then only names it. */
  config?: ConfigExport;
  env?: NodeJS.ProcessEnv;
  flags?: ConfigFlags;
  command: ConfigCommand;
  events?: EngineEvents;
  /**
   * Plugins registered before the config's own (a config plugin of the same name replaces
   * one). The core has none of its own: the package entry (`zsetup`) and the CLI bind the
   * built-in set. @default []
   */
  defaults?: readonly Plugin[];
}

/** `host:pid:run`: names this invocation in the journal and the lock. */
export function newOwnerId(): string {
  return `${hostname().slice(0, 28)}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export async function loadProject(o: LoadOptions): Promise<Project> {
  const cwd = o.cwd ?? process.cwd();
  const env = o.env ?? process.env;
  const timeoutMs = configTimeout(env);
  let file: string;
  let exported: unknown;
  if (o.config !== undefined) {
    file = o.configFile ?? `${cwd}/<inline config>`;
    exported = o.config;
  } else {
    ({ file, exported } = await loadConfigFile(cwd, o.configFile, timeoutMs));
  }
  // A config may export a promise, or a function of the command (sync or async): wait for
  // it, bounded, so a config that never settles fails naming its file instead of hanging.
  const shown = relative(cwd, file) || file;
  const isFn = typeof exported === 'function';
  const raw = await settled(
    shown,
    timeoutMs,
    () => (isFn ? (exported as (e: { command: ConfigCommand }) => unknown)({ command: o.command }) : exported),
    (err) => `${isFn ? 'the config function threw' : "the config's promise rejected"}: ${err instanceof Error ? describeLoadError(err).replace(/^failed to load: /, '') : describeThrown(err)}`,
  );
  const events = o.events ?? new EngineEvents();
  const { config, problems } = resolveConfig(raw, file, env, o.flags ?? {}, newOwnerId(), cwd);
  const p = new Problems(config.displayFile);
  p.list.push(...problems);
  // A built-in is left out when the config lists a plugin of the same name (which replaces
  // it, or, like signalHandler(false), turns it off).
  const listedAt = new Map<string, string>();
  config.plugins.forEach((pl, i) => guarded(`plugins[${config.pluginIndex?.[i] ?? i}]`, p, () => listedAt.set(pl.name, `plugins[${config.pluginIndex?.[i] ?? i}]`)));
  const defaults = o.defaults ?? [];
  const replaced = new Map([...listedAt].filter(([name]) => defaults.some((d) => d.name === name)));
  const built = buildContainer(
    config,
    defaults.filter((pl) => !listedAt.has(pl.name)),
    config.plugins,
    events,
    replaced,
  );
  p.list.push(...built.problems);
  // A register() that returned a promise: give it a moment, to say why it rejected.
  if (built.settled) {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([built.settled, new Promise((r) => (t = setTimeout(r, 500)))]);
    clearTimeout(t);
  }
  // lock.kind against the registered lock kinds, with every other problem.
  p.list.push(...checkLockKind(config, built.container, replaced.get('lock')));
  const steps = prepareSteps(config, built.container, p, replaced);
  const project: Project = { config, container: built.container, events, steps, registrations: built.registrations };
  // Every contract resolves and has the right shape before anything touches a database:
  // a broken plugin is exit 2 naming it, with the database untouched.
  if (p.list.length === 0) {
    for (const r of REQUIRED_CONTRACTS) {
      try {
        resolveContract(built.container, r.token, built.registrations, config.displayFile);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        p.list.push(...err.problems);
        break; // the others usually depend on it (the lock and the store need the pool)
      }
    }
  }
  if (p.list.length > 0) throw new ConfigError(p.list);
  return project;
}

/** `ZSETUP_CONFIG_TIMEOUT`, or the default. */
function configTimeout(env: NodeJS.ProcessEnv): number {
  const v = env.ZSETUP_CONFIG_TIMEOUT;
  if (v === undefined || v === '') return CONFIG_TIMEOUT_MS;
  const ms = parseDuration(v);
  if (ms === undefined || ms < 1 || ms > MAX_DURATION_MS) {
    throw new ConfigError([{ file: 'ZSETUP_CONFIG_TIMEOUT', path: '', message: `expected a duration such as 10s or 2m (at most 24d), got ${JSON.stringify(v)}` }]);
  }
  return ms;
}

function prepareSteps(config: ResolvedConfig, c: DependencyContainer, p: Problems, replaced: ReadonlyMap<string, string>): ResolvedStep[] {
  const kinds = new Map<string, StepKind<any>>();
  let registered: unknown[] = [];
  try {
    registered = resolveAllOrNone(c, Tokens.StepKind);
  } catch (err) {
    p.add('plugins', `a plugin's step kind could not be created: ${causeChain(err)}`);
  }
  registered.forEach((k0, i) => {
    const k = k0 as Partial<StepKind<any>> | null;
    const bad = [
      typeof k?.kind === 'string' && k.kind !== '' ? '' : 'a "kind" name',
      typeof k?.prepare === 'function' ? '' : 'prepare()',
      k?.run === undefined || typeof k.run === 'function' ? '' : 'run() as a function (or no run at all: a script kind)',
      k?.fields === undefined || (typeof k.fields === 'object' && k.fields !== null) ? '' : '"fields" (an object)',
      traitsProblem(k?.traits),
    ].filter(Boolean);
    if (bad.length > 0) p.add('plugins', `step kind #${i + 1} registered for Tokens.StepKind${typeof k?.kind === 'string' ? ` ("${k.kind}")` : ''} lacks ${bad.join(', ')}`);
    else kinds.set(k!.kind!, { ...(k as StepKind<any>), fields: k!.fields ?? {} });
  });

  const prepared: Array<{ def: StepDefinition; kind: StepKind<any>; prepared: Prepared; index: number } | undefined> = [];
  config.steps.forEach((def0, index) => guarded(`steps[${index}]`, p, () => {
    if (typeof def0 !== 'object' || def0 === null || typeof def0.name !== 'string' || (def0.kind !== undefined && typeof def0.kind !== 'string')) return; // reported by resolveConfig
    // Plain objects (JSON/YAML configs) carry no kind: infer it like the builders do.
    const def = (def0.kind === undefined ? { ...def0, kind: 'run' in def0 && !('sql' in def0) ? 'function' : 'sql' } : def0) as StepDefinition;
    const label = ` (step "${def.name}")`;
    const kind = kinds.get(def.kind);
    if (!kind) {
      const guess = didYouMean(def.kind, [...kinds.keys()]);
      const builtinKind = (def.kind === 'sql' || def.kind === 'function') && replaced.has('steps');
      p.add(
        `steps[${index}].kind${label}`,
        builtinKind
          ? `unknown step kind "${def.kind}": ${replaced.get('steps')} replaces the built-in plugin "steps" that provides it, and registers no such kind`
          : `unknown step kind "${def.kind}"${guess ? ` (did you mean "${guess}"?)` : ''}: add the plugin that provides it to plugins: [...]`,
      );
      return;
    }
    checkStepFields(def0 as Record<string, unknown>, index, Object.keys(kind.fields), p);
    const before = p.list.length;
    let result: Prepared | undefined;
    try {
      result = kind.prepare(def, { configDir: config.dir, problem: (path, message) => p.add(`steps[${index}]${path ? `.${path}` : ''}${label}`, message) }) as Prepared;
      if (result instanceof Promise) throw new Error('prepare() must be synchronous');
    } catch (err) {
      p.add(`steps[${index}]${label}`, `step kind "${def.kind}" rejected it: ${causeChain(err)}`);
    }
    // Its shape and traits, once prepare() found the step itself sound.
    if (result && p.list.length === before) checkShapeAndTraits(kind, def, result, index, label, p);
    if (result && p.list.length === before) prepared[index] = { def, kind, prepared: result, index };
  }));

  const { graph, problems } = buildGraph(
    config.steps.map((s, i) => {
      // Read defensively (reported above if reading throws).
      try {
        return {
          name: typeof s?.name === 'string' ? s.name : `\u0000steps[${i}]`,
          after: Array.isArray(s?.after) ? s.after.filter((a): a is string => typeof a === 'string') : undefined,
        };
      } catch {
        return { name: `\u0000steps[${i}]` };
      }
    }),
  );
  for (const g of problems) {
    const name = guarded('', new Problems(''), () => config.steps[g.index]?.name);
    p.add(`steps[${g.index}]${g.path ? `.${g.path}` : ''}${name !== undefined && !g.message.startsWith('duplicate') ? ` (step "${name}")` : ''}`, g.message);
  }
  if (p.list.length > 0 || !graph) throw new ConfigError(p.list);

  const byName = new Map(prepared.filter((x) => x !== undefined).map((x) => [x!.def.name, x!] as const));
  return graph.order.map((name) => {
    const x = byName.get(name)!;
    const { transaction, resumable } = stepTraits(x.kind, x.def);
    return {
      ...x,
      plan: {
        step: name,
        kind: x.def.kind,
        after: graph.deps.get(name) ?? [],
        checksum: checksum(x.prepared.source),
        ...(x.prepared.formerSources?.length ? { formerChecksums: x.prepared.formerSources.map(checksum) } : {}),
        ...(x.prepared.sourceIsCode ? { codeOnly: true } : {}),
        ...(x.prepared.script !== undefined ? { sql: x.prepared.script } : {}),
        repeatable: x.def.repeatable !== undefined,
        transaction,
        resumable,
        description: x.def.description,
        off: offReason(x.kind, x.def, config),
        holds: x.kind.holds === true,
      },
    };
  });
}

/** The kind's off() for this run, read defensively (a throw is the kind's bug: the step runs). */
function offReason(kind: StepKind, def: StepDefinition, config: ResolvedConfig): string | undefined {
  if (typeof kind.off !== 'function') return undefined;
  const why = kind.off(def, config);
  return typeof why === 'string' && why !== '' ? why : undefined;
}

/** A kind's traits, read defensively: '' when they are well formed, else what is wrong. */
function traitsProblem(traits: unknown): string {
  if (traits === undefined) return '';
  if (typeof traits !== 'object' || traits === null) return '"traits" as an object';
  const t = traits as Record<string, unknown>;
  const modes = ['always', 'never', 'optional', undefined];
  if (!modes.includes(t.transaction as string) || !modes.includes(t.resumable as string)) return 'traits.transaction and traits.resumable as "always", "never" or "optional"';
  if (t.repeatable !== undefined && typeof t.repeatable !== 'boolean') return 'traits.repeatable as true or false';
  return '';
}

/**
 * A kind is a script kind (no run(): prepare returns the SQL the engine runs) or a run
 * kind (run() does the work, prepare returns no script): never a script that nothing
 * runs. A step asks only for what its kind's traits allow.
 */
function checkShapeAndTraits(kind: StepKind<any>, def: StepDefinition, prepared: Prepared, index: number, label: string, p: Problems): void {
  const at = (field: string) => `steps[${index}]${field ? `.${field}` : ''}${label}`;
  const script = guarded(at(''), p, () => prepared.script);
  if (kind.run === undefined && typeof script !== 'string') p.add(at(''), `step kind "${kind.kind}" has no run() (a script kind) but its prepare() returned no script: nothing would run it`);
  if (kind.run !== undefined && script !== undefined) p.add(at(''), `step kind "${kind.kind}" has run() and its prepare() returned a script too: a kind either returns a script (the engine runs it) or does the work in run(), not both`);
  const t = kind.traits ?? {};
  const named = `the "${kind.kind}" step kind`;
  if (t.transaction === 'always' && def.transaction === false) p.add(at('transaction'), `${named} always runs in a transaction: remove transaction: false`);
  if (t.transaction === 'never' && def.transaction === true) p.add(at('transaction'), `${named} never runs in a transaction: remove transaction: true`);
  if (t.resumable === 'always' && def.resumable === false) p.add(at('resumable'), `${named} is always resumable: remove resumable: false`);
  if ((t.resumable === 'never' || kind.run === undefined) && def.resumable === true) {
    p.add(at('resumable'), `${named} cannot be resumable${kind.run === undefined ? ' (its SQL runs as a whole)' : ''}: write a function step (run: async (ctx) => ...) that commits batches with ctx.saveCheckpoint`);
  }
  if (t.repeatable === false && def.repeatable !== undefined) p.add(at(''), `${named} cannot be repeatable: declare it with step(...)`);
  const resumable = stepTraits(kind, def).resumable;
  if (resumable && def.transaction === true) p.add(at('transaction'), 'a resumable step commits its own batches (ctx.saveCheckpoint): it cannot also be transaction: true');
}

/** What a step is, from its kind's traits and, where they let it choose, its own fields. */
function stepTraits(kind: StepKind<any>, def: StepDefinition): { transaction: boolean; resumable: boolean } {
  const t = kind.traits ?? {};
  const resumable = t.resumable === 'always' ? true : t.resumable === 'never' || kind.run === undefined ? false : def.resumable === true;
  const transaction = resumable ? false : t.transaction === 'always' ? true : t.transaction === 'never' ? false : (def.transaction ?? true);
  return { transaction, resumable };
}

export type { UserConfig };
