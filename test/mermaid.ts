/**
 * Mermaid's own parser, in Node, for tests of `--format mermaid`. `@mermaid-js/parser`
 * has no flowchart grammar (its Langium grammars are info, pie, gitGraph and a few more),
 * so this is `mermaid` itself: its flowchart parser is the one every renderer of Mermaid
 * runs. It sanitises labels with DOMPurify, which needs a `window` when it is loaded:
 * jsdom's, set before mermaid is imported.
 */

export interface Flowchart {
  /** Node id to its label (entities decoded, as a reader sees it) and classes. */
  nodes: Map<string, { label: string; classes: string[] }>;
  edges: Array<[from: string, to: string]>;
  /** The classDef names. */
  classes: string[];
}

let loaded: Promise<typeof import('mermaid').default> | undefined;

function mermaid() {
  loaded ??= (async () => {
    const { JSDOM } = await import('jsdom');
    (globalThis as { window?: unknown }).window = new JSDOM('').window;
    return (await import('mermaid')).default;
  })();
  return loaded;
}

/** Parses a flowchart as Mermaid does; rejects with Mermaid's parse error when it is not valid. */
export async function parseFlowchart(text: string): Promise<Flowchart> {
  const m = await mermaid();
  const parsed = await m.parse(text);
  if (!parsed || parsed.diagramType !== 'flowchart-v2') throw new Error(`not a flowchart: ${JSON.stringify(parsed)}`);
  const db = ((await m.mermaidAPI.getDiagramFromText(text)) as any).db;
  const nodes = new Map<string, { label: string; classes: string[] }>();
  for (const v of db.getVertices().values()) nodes.set(v.id, { label: decode(v.text), classes: [...v.classes] });
  return { nodes, edges: db.getEdges().map((e: any) => [e.start, e.end]), classes: [...db.getClasses().keys()] };
}

/** Mermaid keeps `#65;` as a placeholder until it writes the SVG; this is what the SVG then shows. */
function decode(text: string): string {
  return text.replace(/ﬂ°°(\d+)¶ß/g, (_, n: string) => String.fromCodePoint(Number(n)));
}
