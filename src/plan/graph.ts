/**
 * The step graph: implicit linear edges plus explicit `after`, a deterministic
 * topological order, and cycle reporting as `a -> b -> c -> a`.
 */

export interface GraphNode {
  readonly name: string;
  readonly after?: readonly string[] | undefined;
}

export interface GraphProblem {
  /** Index of the step in declaration order. */
  index: number;
  /** Key path below the step, e.g. `after[0]`; empty for the step itself. */
  path: string;
  message: string;
}

export interface Graph {
  /** Direct dependencies of each step, by name. */
  readonly deps: ReadonlyMap<string, readonly string[]>;
  /** Names in execution order: dependencies first, ties broken by declaration order. */
  readonly order: readonly string[];
}

/**
 * Build the graph. A step without `after` depends on the step declared just before it
 * (ZITADEL's linear order); `after` replaces that edge.
 */
export function buildGraph(nodes: readonly GraphNode[]): { graph?: Graph; problems: GraphProblem[] } {
  const problems: GraphProblem[] = [];
  const index = new Map<string, number>();
  nodes.forEach((n, i) => {
    const first = index.get(n.name);
    if (first !== undefined) {
      problems.push({ index: i, path: 'name', message: `duplicate step name "${n.name}" (first declared at steps[${first}]); names are identities and must be unique` });
    } else index.set(n.name, i);
  });
  const names = [...index.keys()];
  const deps = new Map<string, string[]>();
  nodes.forEach((n, i) => {
    if (index.get(n.name) !== i) return;
    if (n.after === undefined) {
      const prev = nodes[i - 1];
      deps.set(n.name, prev ? [prev.name] : []);
      return;
    }
    const d: string[] = [];
    n.after.forEach((a, j) => {
      if (a === n.name) problems.push({ index: i, path: `after[${j}]`, message: `step "${n.name}" cannot run after itself` });
      else if (!index.has(a)) {
        const guess = didYouMean(a, names);
        problems.push({ index: i, path: `after[${j}]`, message: `step "${n.name}" runs after unknown step "${a}"${guess ? ` (did you mean "${guess}"?)` : ''}` });
      } else if (!d.includes(a)) d.push(a);
    });
    deps.set(n.name, d);
  });
  // Unknown targets are left out of `deps`, so a cycle among the rest is still found:
  // every problem at once.
  const cycle = findCycle(names, deps);
  if (cycle) {
    const i = index.get(cycle[0]!)!;
    problems.push({ index: i, path: 'after', message: `dependency cycle: ${cycle.join(' -> ')}` });
  }
  if (problems.length > 0) return { problems };
  return { graph: { deps, order: topoOrder(names, deps) }, problems };
}

/** Kahn's algorithm, always taking the ready step declared first: deterministic. */
function topoOrder(names: readonly string[], deps: ReadonlyMap<string, readonly string[]>): string[] {
  const pos = new Map(names.map((n, i) => [n, i] as const));
  const remaining = new Map(names.map((n) => [n, deps.get(n)!.length] as const));
  const dependants = new Map<string, string[]>(names.map((n) => [n, []]));
  for (const n of names) for (const d of deps.get(n)!) dependants.get(d)!.push(n);
  const ready = names.filter((n) => remaining.get(n) === 0);
  const out: string[] = [];
  while (ready.length > 0) {
    let best = 0;
    for (let k = 1; k < ready.length; k++) if (pos.get(ready[k]!)! < pos.get(ready[best]!)!) best = k;
    const n = ready.splice(best, 1)[0]!;
    out.push(n);
    for (const m of dependants.get(n)!) {
      const r = remaining.get(m)! - 1;
      remaining.set(m, r);
      if (r === 0) ready.push(m);
    }
  }
  return out;
}

/** A cycle in dependency direction, first element repeated at the end, or undefined. */
function findCycle(names: readonly string[], deps: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 1);
    stack.push(n);
    for (const d of deps.get(n) ?? []) {
      const s = state.get(d);
      if (s === 1) {
        // stack holds n's ancestors in "depends on" order; print in run order a -> b,
        // starting from the step declared first, so the message reads like the config.
        const cyc = stack.slice(stack.indexOf(d)).reverse();
        let first = 0;
        for (let k = 1; k < cyc.length; k++) if (names.indexOf(cyc[k]!) < names.indexOf(cyc[first]!)) first = k;
        const rotated = [...cyc.slice(first), ...cyc.slice(0, first)];
        return [...rotated, rotated[0]!];
      }
      if (s === undefined) {
        const c = visit(d);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const n of names) {
    if (state.get(n) === undefined) {
      const c = visit(n);
      if (c) return c;
    }
  }
  return undefined;
}

/** Every step that (transitively) depends on `name`. */
export function dependantsOf(name: string, deps: ReadonlyMap<string, readonly string[]>): Set<string> {
  const out = new Set<string>();
  let grew = true;
  while (grew) {
    grew = false;
    for (const [n, ds] of deps) {
      if (out.has(n)) continue;
      if (ds.some((d) => d === name || out.has(d))) {
        out.add(n);
        grew = true;
      }
    }
  }
  return out;
}

/** The closest candidate by edit distance, if close enough to be a likely typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
