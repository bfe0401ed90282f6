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

/** Kahn's algorithm, always taking the ready step declared first (a heap): deterministic, O(n log n). */
function topoOrder(names: readonly string[], deps: ReadonlyMap<string, readonly string[]>): string[] {
  const pos = new Map(names.map((n, i) => [n, i] as const));
  const remaining = names.map((n) => deps.get(n)!.length);
  const dependants: number[][] = names.map(() => []);
  names.forEach((n, i) => {
    for (const d of deps.get(n)!) dependants[pos.get(d)!]!.push(i);
  });
  const ready = new MinHeap();
  remaining.forEach((r, i) => r === 0 && ready.push(i));
  const out: string[] = [];
  while (ready.size > 0) {
    const i = ready.pop();
    out.push(names[i]!);
    for (const m of dependants[i]!) if (--remaining[m]! === 0) ready.push(m);
  }
  return out;
}

/** A binary min-heap of integers (declaration positions). */
export class MinHeap {
  private readonly a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  /** The smallest value (undefined when empty). */
  peek(): number | undefined {
    return this.a[0];
  }
  push(v: number): void {
    const a = this.a;
    let i = a.push(v) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= v) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const c = l + 1 < a.length && a[l + 1]! < a[l]! ? l + 1 : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

/**
 * A cycle in dependency direction, first element repeated at the end, or undefined.
 * Iterative (an explicit stack): a chain of 10,000 steps must not overflow the call stack.
 */
function findCycle(names: readonly string[], deps: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const pos = new Map(names.map((n, i) => [n, i] as const));
  const state = new Map<string, 1 | 2>();
  for (const root of names) {
    if (state.has(root)) continue;
    // Each frame: a node and the index of the next dependency to look at.
    const stack: Array<{ n: string; k: number }> = [{ n: root, k: 0 }];
    const onPath: string[] = [root];
    state.set(root, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const ds = deps.get(top.n) ?? [];
      if (top.k >= ds.length) {
        stack.pop();
        onPath.pop();
        state.set(top.n, 2);
        continue;
      }
      const d = ds[top.k++]!;
      const s = state.get(d);
      if (s === 1) {
        // onPath holds the chain in "depends on" order; print it in run order a -> b,
        // starting from the step declared first, so the message reads like the config.
        const cyc = onPath.slice(onPath.lastIndexOf(d)).reverse();
        let first = 0;
        for (let k = 1; k < cyc.length; k++) if (pos.get(cyc[k]!)! < pos.get(cyc[first]!)!) first = k;
        const rotated = [...cyc.slice(first), ...cyc.slice(0, first)];
        return [...rotated, rotated[0]!];
      }
      if (s === undefined) {
        state.set(d, 1);
        stack.push({ n: d, k: 0 });
        onPath.push(d);
      }
    }
  }
  return undefined;
}

/** The closest candidate by edit distance, if close enough to be a likely typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const limit = Math.max(2, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    // Lengths further apart than the limit cannot be close enough: skip the O(n*m) distance
    // (a config of 10,000 steps with typos must not take seconds).
    if (Math.abs(c.length - word.length) > Math.min(limit, bestD)) continue;
    const d = levenshtein(w, c.toLowerCase(), Math.min(limit, bestD));
    if (d < bestD) {
      bestD = d;
      best = c;
      if (d === 0) break;
    }
  }
  return best !== undefined && bestD <= limit ? best : undefined;
}

/** Edit distance, or anything above `max` once it is certain to exceed it. */
function levenshtein(a: string, b: string, max = Infinity): number {
  if (a.length > 200 || b.length > 200) return a === b ? 0 : Infinity;
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    let rowMin = prev[0];
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
      if (prev[j]! < rowMin) rowMin = prev[j]!;
    }
    if (rowMin > max) return rowMin;
  }
  return prev[b.length]!;
}
