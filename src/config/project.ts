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
import { loadConfigFile, describeLoadError } from './load.js';
import { resolveConfig, checkStepFields, Problems, type ConfigFlags, type ResolvedConfig } from './resolve.js';
import { buildContainer, resolveAllOrNone, Tokens } from '../container.js';
import { ConfigError } from '../errors.js';
import { EngineEvents } from '../engine/events.js';
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
  /** Plugins registered before the config's own. @default the built-in ones */
  defaults?: readonly Plugin[];
}

/** `host:pid:run`: names this invocation in the journal and the lock. */
export function newOwnerId(): string {
  return `${hostname().slice(0, 28)}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

export async function loadProject(o: LoadOptions): Promise<Project> {
  const cwd = o.cwd ?? process.cwd();
  let file: string;
  let exported: unknown;
  if (o.config !== undefined) {
    file = o.configFile ?? `${cwd}/<inline config>`;
    exported = o.config;
  } else {
    ({ file, exported } = await loadConfigFile(cwd, o.configFile));
  }
  let raw: unknown;
  try {
    raw = await (typeof exported === 'function' ? (exported as (e: { command: ConfigCommand }) => unknown)({ command: o.command }) : exported);
  } catch (err) {
    throw new ConfigError([{ file: relative(cwd, file) || file, path: '', message: `the config function threw: ${describeLoadError(err).replace(/^failed to load: /, '')}` }]);
  }
  const events = o.events ?? new EngineEvents();
  const { config, problems } = resolveConfig(raw, file, o.env ?? process.env, o.flags ?? {}, newOwnerId(), cwd);
  const p = new Problems(config.displayFile);
  p.list.push(...problems);
  // A built-in is left out when the config lists a plugin of the same name (which replaces
  // it, or, like signalHandler(false), turns it off).
  const listed = new Set(config.plugins.map((pl) => pl.name));
  const defaults = (o.defaults ?? (await import('../../plugins/index.js')).defaultPlugins()).filter((pl) => !listed.has(pl.name));
  let container: DependencyContainer;
  try {
    container = buildContainer(config, defaults, config.plugins, events);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError([...p.list, ...err.problems]);
    throw err;
  }
  const steps = prepareSteps(config, container, p);
  return { config, container, events, steps };
}

function prepareSteps(config: ResolvedConfig, c: DependencyContainer, p: Problems): ResolvedStep[] {
  const kinds = new Map<string, StepKind<any>>();
  for (const k of resolveAllOrNone(c, Tokens.StepKind)) kinds.set(k.kind, k);

  const prepared: Array<{ def: StepDefinition; kind: StepKind<any>; prepared: Prepared; index: number } | undefined> = [];
  config.steps.forEach((def0, index) => {
    if (typeof def0 !== 'object' || def0 === null || typeof def0.name !== 'string' || (def0.kind !== undefined && typeof def0.kind !== 'string')) return; // reported by resolveConfig
    // Plain objects (JSON/YAML configs) carry no kind: infer it like the builders do.
    const def = (def0.kind === undefined ? { ...def0, kind: 'run' in def0 && !('sql' in def0) ? 'function' : 'sql' } : def0) as StepDefinition;
    const label = ` (step "${def.name}")`;
    const kind = kinds.get(def.kind);
    if (!kind) {
      const guess = didYouMean(def.kind, [...kinds.keys()]);
      p.add(`steps[${index}].kind${label}`, `unknown step kind "${def.kind}"${guess ? ` (did you mean "${guess}"?)` : ''}: add the plugin that provides it to plugins: [...]`);
      return;
    }
    checkStepFields(def0 as Record<string, unknown>, index, Object.keys(kind.fields), p);
    const before = p.list.length;
    let result: Prepared | undefined;
    try {
      result = kind.prepare(def, { configDir: config.dir, problem: (path, message) => p.add(`steps[${index}]${path ? `.${path}` : ''}${label}`, message) }) as Prepared;
      if (result instanceof Promise) throw new Error('prepare() must be synchronous');
    } catch (err) {
      p.add(`steps[${index}]${label}`, `step kind "${def.kind}" rejected it: ${(err as Error).message}`);
    }
    if (result && p.list.length === before) prepared[index] = { def, kind, prepared: result, index };
  });

  const { graph, problems } = buildGraph(
    config.steps.map((s, i) => ({
      name: typeof s?.name === 'string' ? s.name : `\u0000steps[${i}]`,
      after: Array.isArray(s?.after) ? s.after.filter((a): a is string => typeof a === 'string') : undefined,
    })),
  );
  for (const g of problems) {
    const name = config.steps[g.index]?.name;
    p.add(`steps[${g.index}]${g.path ? `.${g.path}` : ''}${name !== undefined && !g.message.startsWith('duplicate') ? ` (step "${name}")` : ''}`, g.message);
  }
  if (p.list.length > 0 || !graph) throw new ConfigError(p.list);

  const byName = new Map(prepared.filter((x) => x !== undefined).map((x) => [x!.def.name, x!] as const));
  return graph.order.map((name) => {
    const x = byName.get(name)!;
    const transaction = x.def.resumable ? false : (x.def.transaction ?? true);
    return {
      ...x,
      plan: {
        name,
        kind: x.def.kind,
        deps: graph.deps.get(name) ?? [],
        checksum: checksum(x.prepared.source),
        repeatable: x.def.repeatable !== undefined,
        transaction,
        resumable: x.def.resumable === true,
        description: x.def.description,
      },
    };
  });
}

export type { UserConfig };
