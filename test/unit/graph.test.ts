/**
 * The step graph, in process: implicit linear edges, explicit `after`, the deterministic
 * order, and every graph problem at once (duplicates, unknown targets with a did-you-mean,
 * self-dependency, cycles printed in run order). The CLI's rendering of these problems is
 * covered by test/cli/validation.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildGraph, didYouMean, type GraphNode } from '../../src/plan/graph.js';

const n = (name: string, after?: string[]): GraphNode => (after === undefined ? { name } : { name, after });

function graph(nodes: GraphNode[]) {
  const r = buildGraph(nodes);
  assert.equal(r.problems, [], 'no problems');
  assert.ok(r.graph);
  return r.graph!;
}

const deps = (g: ReturnType<typeof graph>) => Object.fromEntries([...g.deps].map(([k, v]) => [k, [...v]]));

test('without after, each step depends on the one declared before it (ZITADEL order)', () => {
  const g = graph([n('a'), n('b'), n('c')]);
  assert.equal(g.order, ['a', 'b', 'c']);
  assert.equal(deps(g), { a: [], b: ['a'], c: ['b'] });
});

test('an empty config has an empty order', () => {
  assert.equal(graph([]).order, []);
});

test('after replaces the implicit edge; after: [] makes a root', () => {
  const g = graph([n('a'), n('b', []), n('c', ['a']), n('d')]);
  assert.equal(deps(g), { a: [], b: [], c: ['a'], d: ['c'] });
  assert.equal(g.order, ['a', 'b', 'c', 'd']);
});

test('a step may run after one declared later: dependencies first', () => {
  const g = graph([n('late_user', ['base']), n('base', [])]);
  assert.equal(g.order, ['base', 'late_user']);
});

test('ties are broken by declaration order, whatever the after lists', () => {
  // z, y, x are independent roots; m needs all three; w is independent too.
  const g = graph([n('z', []), n('y', []), n('m', ['x', 'y', 'z']), n('x', []), n('w', [])]);
  assert.equal(g.order, ['z', 'y', 'x', 'm', 'w']);
  // Same input, same order, every time.
  assert.equal(graph([n('z', []), n('y', []), n('m', ['x', 'y', 'z']), n('x', []), n('w', [])]).order, g.order);
});

test('a diamond: each step after all of its dependencies, exactly once', () => {
  const g = graph([n('root'), n('left', ['root']), n('right', ['root']), n('join', ['right', 'left'])]);
  assert.equal(g.order, ['root', 'left', 'right', 'join']);
  assert.equal(deps(g).join, ['right', 'left']);
});

test('a repeated after target counts once', () => {
  const g = graph([n('a'), n('b', ['a', 'a'])]);
  assert.equal(deps(g).b, ['a']);
});

test('duplicate names: reported at the second declaration, naming the first', () => {
  const r = buildGraph([n('01_tables'), n('02_data'), n('01_tables')]);
  assert.is(r.graph, undefined);
  assert.is(r.problems.length, 1);
  assert.is(r.problems[0]!.index, 2);
  assert.is(r.problems[0]!.path, 'name');
  assert.match(r.problems[0]!.message, /^duplicate step name "01_tables" \(first declared at steps\[0\]\)/);
});

test('unknown after target, with a did-you-mean when close, without one when not', () => {
  const r = buildGraph([n('01_tables'), n('02_data', ['01_tables', '01_tabels', 'zzz_unrelated'])]);
  assert.is(r.graph, undefined);
  assert.equal(
    r.problems.map((p) => [p.index, p.path, p.message]),
    [
      [1, 'after[1]', 'step "02_data" runs after unknown step "01_tabels" (did you mean "01_tables"?)'],
      [1, 'after[2]', 'step "02_data" runs after unknown step "zzz_unrelated"'],
    ],
  );
});

test('a step after itself', () => {
  const r = buildGraph([n('a', ['a'])]);
  assert.equal(r.problems.map((p) => [p.index, p.path, p.message]), [[0, 'after[0]', 'step "a" cannot run after itself']]);
});

test('a cycle is printed in run order from the step declared first: a -> b -> c -> a', () => {
  const r = buildGraph([n('a', ['c']), n('b', ['a']), n('c', ['b'])]);
  assert.is(r.graph, undefined);
  assert.equal(r.problems.map((p) => [p.index, p.path, p.message]), [[0, 'after', 'dependency cycle: a -> b -> c -> a']]);
  // Declared in another order, the message still starts at the first declared step of the cycle.
  const r2 = buildGraph([n('x', []), n('c', ['b']), n('a', ['c']), n('b', ['a'])]);
  assert.equal(r2.problems.map((p) => [p.index, p.message]), [[1, 'dependency cycle: c -> a -> b -> c']]);
});

test('a cycle through implicit edges is found too', () => {
  // b follows a implicitly, a runs after b explicitly.
  const r = buildGraph([n('a', ['b']), n('b')]);
  assert.equal(r.problems.map((p) => p.message), ['dependency cycle: a -> b -> a']);
});

test('a cycle and an unknown target in one config: both reported, each once', () => {
  const r = buildGraph([n('a', ['b']), n('b', ['a']), n('c', ['nope'])]);
  assert.equal(
    r.problems.map((p) => [p.index, p.path, p.message]).sort(),
    [
      [0, 'after', 'dependency cycle: a -> b -> a'],
      [2, 'after[0]', 'step "c" runs after unknown step "nope"'],
    ].sort(),
  );
});

test('duplicates, unknown targets and a cycle together: every problem at once', () => {
  const r = buildGraph([n('a', ['c']), n('a'), n('b', ['a', 'bogus']), n('c', ['b'])]);
  const messages = r.problems.map((p) => p.message);
  assert.is(messages.length, 3, messages.join('\n'));
  assert.ok(messages.some((m) => m.startsWith('duplicate step name "a"')));
  assert.ok(messages.some((m) => m.includes('unknown step "bogus"')));
  assert.ok(messages.includes('dependency cycle: a -> b -> c -> a'), messages.join('\n'));
});

test('a chain of 10,000 steps declared in reverse order: no stack overflow, dependencies first', () => {
  const N = 10_000;
  const chain = Array.from({ length: N }, (_, i) => n(`s${i}`, i === 0 ? [] : [`s${i - 1}`])).reverse();
  const g = graph(chain);
  assert.is(g.order.length, N);
  assert.ok(g.order.every((s, i) => s === `s${i}`), 'the chain in its dependency order');
  // and a 10,000-step cycle is reported, not a RangeError
  const ring = Array.from({ length: N }, (_, i) => n(`r${i}`, [`r${(i + N - 1) % N}`]));
  const r = buildGraph(ring);
  assert.is(r.problems.length, 1);
  assert.match(r.problems[0]!.message, /^dependency cycle: r0 -> r1 -> r2 -> .* -> r9999 -> r0$/);
});

test('didYouMean: the closest candidate when it is likely a typo, case-insensitive', () => {
  assert.is(didYouMean('stpes', ['steps', 'plugins', 'database']), 'steps');
  assert.is(didYouMean('transacton', ['transaction', 'after', 'sql']), 'transaction');
  assert.is(didYouMean('STEPS', ['steps']), 'steps');
  assert.is(didYouMean('zzzzzz', ['steps', 'plugins']), undefined);
  assert.is(didYouMean('x', []), undefined);
});

test.run();
