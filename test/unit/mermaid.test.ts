/**
 * `plan --format mermaid`'s writer, in process, checked by Mermaid's own parser: one node per
 * step whatever its name holds (quotes, brackets, arrows, comments, entities, HTML, Markdown,
 * KaTeX, unicode), labelled with the name and the action as a reader sees them, a class per
 * action, an edge per dependency. The CLI end to end: test/cli/commands.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mermaidPlan } from '../../src/cli/render/mermaid.js';
import type { Action } from '../../src/plan/planner.js';
import { rejects } from '../helpers.js';
import { parseFlowchart } from '../mermaid.js';

type Entry = { step: string; action: Action; after: string[] };

// Everything a step name may hold (no control characters: the config refuses those).
const HOSTILE = [
  '01_plain',
  'say "hi"',
  "it's",
  'a]b[c',
  'x --> y',
  'a -- text --> b',
  'a --- b ==> c -.- d',
  '%% not a comment',
  '%%{init: {"theme": "dark"}}%%',
  'a;b',
  'a:::skip',
  'style s0 fill:#f00;',
  'classDef run fill:#000',
  'click s0 call alert()',
  'end',
  'subgraph',
  'graph TD',
  '#quot; and #35; and #lt;',
  '&amp; &lt;b&gt; &#34;',
  '<b>bold</b> <img src=x onerror=alert(1)>',
  '<br/>',
  '`markdown **bold**`',
  '"`markdown`"',
  '$$x^2$$',
  'a|b|c',
  '{curly} (round) ((double)) [[sub]] [(db)] >flag] {{hex}}',
  'back\\slash',
  '日本語のステップ',
  'émigré naïve façade',
  'emoji 🚀🔥 and 👩‍👩‍👧',
  'combining é (e + U+0301)',
  'rtl עברית العربية',
  'nbsp\u00a0here',
  'zero\u200bwidth',
  '   spaces around   ',
  'a'.repeat(300),
];
const ACTIONS: Action[] = ['run', 'rerun', 'resume', 'skip', 'drift', 'blocked'];

test('hostile step names give a valid flowchart: one node each, labels read as written, classes, edges', async () => {
  // A chain, with a fan-in at the end: every step runs after the one before; the last after all.
  const entries: Entry[] = HOSTILE.map((step, i) => ({ step, action: ACTIONS[i % ACTIONS.length]!, after: i === 0 ? [] : [HOSTILE[i - 1]!] }));
  entries.push({ step: 'last', action: 'blocked', after: HOSTILE });
  const text = mermaidPlan(entries);
  assert.ok(text.startsWith('flowchart TD\n'), text.slice(0, 40));
  const chart = await parseFlowchart(text);

  assert.is(chart.nodes.size, entries.length, 'one node per step, no stray node made of a name');
  entries.forEach((e, i) => {
    const node = chart.nodes.get(`s${i}`);
    assert.ok(node, `node s${i} for ${JSON.stringify(e.step)}`);
    assert.is(node!.label, `${e.step}<br>${e.action}`, 'the label shows the name and the action');
    assert.equal(node!.classes, [e.action]);
  });
  const expected: Array<[string, string]> = [];
  entries.forEach((e, i) => e.after.forEach((dep) => expected.push([`s${HOSTILE.indexOf(dep)}`, `s${i}`])));
  assert.equal(chart.edges, expected, 'an edge from each dependency');
  assert.equal(chart.classes, ACTIONS, 'a classDef per action');
});

test('an empty plan and a dependency the plan does not hold still draw', async () => {
  assert.is((await parseFlowchart(mermaidPlan([]))).nodes.size, 0);
  const chart = await parseFlowchart(mermaidPlan([{ step: 'b', action: 'run', after: ['gone "away"'] }]));
  assert.equal([...chart.nodes].map(([id, n]) => [id, n.label]), [
    ['s0', 'b<br>run'],
    ['s1', 'gone "away"'],
  ]);
  assert.equal(chart.edges, [['s1', 's0']]);
});

test('scrub rewrites labels only: ids and edges stay those of the real names', async () => {
  const text = mermaidPlan(
    [
      { step: 'seed pw=hunter2', action: 'run', after: [] },
      { step: 'next', action: 'skip', after: ['seed pw=hunter2'] },
    ],
    { scrub: (name) => name.replace('hunter2', '***') },
  );
  assert.not.ok(text.includes('hunter2'), text);
  const chart = await parseFlowchart(text);
  assert.is(chart.nodes.get('s0')!.label, 'seed pw=***<br>run');
  assert.equal(chart.edges, [['s0', 's1']]);
});

test('the parser check fails on an invalid diagram (the same plan, labels unescaped)', async () => {
  const good = mermaidPlan([{ step: 'say "hi" ]', action: 'run', after: [] }]);
  await parseFlowchart(good);
  const broken = good.replace(/#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)));
  assert.ok(broken.includes('say "hi" ]'), broken);
  await rejects(parseFlowchart(broken), /Parse error/);
  await rejects(parseFlowchart('flowchart TD\n  s0["unterminated]:::run'), /Parse error/);
});

test.run();
