/**
 * A unified diff of two texts by lines (what `plan` shows for a step that changed after it
 * ran). A longest common subsequence over the lines; texts of more than LIMIT line pairs are
 * not diffed (a step's SQL is kept up to 64 KB, so this is rare): the caller says so.
 */

const LIMIT = 4_000_000;

/**
 * `diff -u`-style hunks (`@@ -a,n +b,m @@`, then ` `/`-`/`+` lines) with `context` lines
 * around each change; '' when the texts have the same lines; undefined when too large.
 * @example unifiedDiff('a\nb\n', 'a\nc\n', { from: 'applied', to: 'now' })
 */
export function unifiedDiff(a: string, b: string, o: { from?: string; to?: string; context?: number } = {}): string | undefined {
  const x = lines(a);
  const y = lines(b);
  // Common head and tail first: most changes are small.
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;
  const xm = x.slice(head, x.length - tail);
  const ym = y.slice(head, y.length - tail);
  if (xm.length === 0 && ym.length === 0) return '';
  if ((xm.length + 1) * (ym.length + 1) > LIMIT) return undefined;

  // ops over the whole texts: ' ' same, '-' only in a, '+' only in b.
  const ops: Array<[' ' | '-' | '+', string]> = x.slice(0, head).map((l) => [' ', l] as [' ', string]);
  const n = xm.length;
  const m = ym.length;
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = xm[i] === ym[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!);
    }
  }
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    // Removed lines before added ones, as diff -u shows them.
    if (i < n && j < m && xm[i] === ym[j]) (ops.push([' ', xm[i]!]), i++, j++);
    else if (i < n && (j === m || lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!)) (ops.push(['-', xm[i]!]), i++);
    else (ops.push(['+', ym[j]!]), j++);
  }
  for (const l of x.slice(x.length - tail)) ops.push([' ', l]);

  // Hunks: changes with `context` lines around, joined where their contexts meet.
  const ctx = o.context ?? 3;
  const out: string[] = [`--- ${o.from ?? 'a'}`, `+++ ${o.to ?? 'b'}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k]![0] === ' ') {
      k++;
      continue;
    }
    let start = Math.max(0, k - ctx);
    let end = k;
    // Extend while the next change is within 2*ctx unchanged lines.
    for (;;) {
      while (end < ops.length && ops[end]![0] !== ' ') end++;
      let gap = end;
      while (gap < ops.length && ops[gap]![0] === ' ') gap++;
      if (gap < ops.length && gap - end <= 2 * ctx) end = gap;
      else {
        end = Math.min(ops.length, end + ctx);
        break;
      }
    }
    // Line numbers of the hunk's first line in a and b.
    let aLine = 1;
    let bLine = 1;
    for (let q = 0; q < start; q++) {
      if (ops[q]![0] !== '+') aLine++;
      if (ops[q]![0] !== '-') bLine++;
    }
    const body = ops.slice(start, end);
    const aCount = body.filter(([t]) => t !== '+').length;
    const bCount = body.filter(([t]) => t !== '-').length;
    out.push(`@@ -${aCount === 0 ? aLine - 1 : aLine},${aCount} +${bCount === 0 ? bLine - 1 : bLine},${bCount} @@`);
    for (const [t, l] of body) out.push(`${t}${l}`);
    k = end;
    start = end;
  }
  return out.join('\n');
}

function lines(s: string): string[] {
  const l = s.replace(/\r\n?/g, '\n').split('\n');
  if (l[l.length - 1] === '') l.pop();
  return l;
}
