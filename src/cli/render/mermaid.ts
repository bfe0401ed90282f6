/**
 * The Mermaid format: `plan` as a flowchart of the dependency graph, one node per step
 * with what apply would do to it (run, rerun, resume, skip, drift, blocked), an edge from
 * each step it runs after. Paste it into a Markdown file, a PR or https://mermaid.live.
 * Errors are written as text, on stderr.
 *
 * Only `plan`: `status` has no dependency edges to draw (its result is each step's latest
 * record, and what that means for the next run is the plan's action anyway), and apply and
 * cleanup are runs, not graphs.
 */
import type { Action, PlanEntry } from '../../plan/planner.js';
import { redact } from '../../errors.js';
import { line } from '../output.js';
import type { Format } from '../renderer.js';
import { textRenderer } from './text.js';

export const mermaid: Format = {
  description: "draws plan's dependency graph, each step with its action, as a Mermaid flowchart (plan only)",
  commands: ['plan'],
  create: (out) => ({
    ...textRenderer(out),
    // A password in a step name is scrubbed before it is escaped (escaped, redact would no
    // longer recognise it); the whole diagram goes through `line` as every output does.
    plan: ({ plan }) => line(out, mermaidPlan(plan.entries, { scrub: (name) => redact(name, out.secrets) })),
  }),
};

/** Node colours per action: work to do in blue, resume in amber, nothing to do in grey, refusals in red. */
const STYLES: Record<Action, string> = {
  run: 'fill:#dbeafe,stroke:#2563eb,color:#1e3a8a',
  rerun: 'fill:#e0e7ff,stroke:#4f46e5,color:#312e81',
  resume: 'fill:#fef3c7,stroke:#d97706,color:#78350f',
  skip: 'fill:#f3f4f6,stroke:#9ca3af,color:#4b5563',
  drift: 'fill:#fee2e2,stroke:#dc2626,color:#7f1d1d',
  blocked: 'fill:#fee2e2,stroke:#dc2626,color:#7f1d1d,stroke-dasharray:4 3',
};

/**
 * A plan's dependency graph as Mermaid flowchart text. Node ids are `s0`, `s1`, ... in plan
 * order (a step name may hold any character); labels show the name and the action, every
 * character Mermaid could read as syntax or markup written as an entity (`#34;`).
 *
 * @example
 * mermaidPlan([{ step: '01 users', action: 'skip', after: [] }, { step: '02 "roles"', action: 'run', after: ['01 users'] }]);
 * // flowchart TD
 * //   s0["01 users<br/>skip"]:::skip
 * //   s1["02 #34;roles#34;<br/>run"]:::run
 * //   s0 --> s1
 * //   classDef run fill:#dbeafe,...
 */
export function mermaidPlan(entries: readonly Pick<PlanEntry, 'step' | 'action' | 'after'>[], options: { scrub?: (name: string) => string } = {}): string {
  const scrub = options.scrub ?? ((name: string) => name);
  const ids = new Map<string, string>();
  const idOf = (step: string) => {
    let id = ids.get(step);
    if (id === undefined) ids.set(step, (id = `s${ids.size}`));
    return id;
  };
  const lines = ['flowchart TD'];
  for (const e of entries) lines.push(`  ${idOf(e.step)}["${escapeLabel(scrub(e.step))}<br/>${e.action}"]:::${e.action}`);
  // A step runs after one the plan does not hold (never, from the planner): drawn, without an action.
  for (const e of entries) for (const dep of e.after) if (!ids.has(dep)) lines.push(`  ${idOf(dep)}["${escapeLabel(scrub(dep))}"]`);
  for (const e of entries) for (const dep of e.after) lines.push(`  ${idOf(dep)} --> ${idOf(e.step)}`);
  for (const [action, style] of Object.entries(STYLES)) lines.push(`  classDef ${action} ${style}`);
  return lines.join('\n');
}

/**
 * Everything but letters, digits, spaces and punctuation that means nothing inside a quoted
 * Mermaid label becomes a numeric entity: `"` would end the label, `#` starts an entity,
 * `<`, `>` and `&` are HTML, a backquote starts Markdown, `$` KaTeX, `%%{...}%%` is a directive
 * Mermaid removes (and obeys) wherever it stands, `:` feeds its `style...:#...;` rewriting,
 * and invisible characters are better seen as codes. Spaces at either end too.
 */
function escapeLabel(text: string): string {
  const escaped = text.replace(/[^\p{L}\p{M}\p{N} !'()*+,\-./;=?@[\]^_{|}~]/gu, (c) => `#${c.codePointAt(0)};`);
  // Mermaid trims a label; spaces that belong to the name are kept as entities.
  return escaped.replace(/^ +| +$/g, (spaces) => '#32;'.repeat(spaces.length));
}
