/** A duration: milliseconds, or a string with a unit (`'500ms'`, `'30s'`, `'5m'`, `'1h'`, `'1d'`). */
export type Duration = number | string;

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * The longest duration zsetup accepts: 2^31-1 ms (24d20h31m23.647s). It is the longest
 * timer Node.js can set (a longer one fires at once, with a warning) and the largest
 * `lock_timeout` PostgreSQL accepts.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Parse a duration (`1500`, `"500ms"`, `"10s"`, `"5m"`, `"1h30m"`, `"2d"`) into whole
 * milliseconds (a positive fraction below 1 ms counts as 1 ms). Returns undefined for
 * anything else (negative, NaN, Infinity, unknown units), so callers can report the key.
 * The range is the caller's to check (see MAX_DURATION_MS).
 * @example parseDuration('1h30m') // 5_400_000; parseDuration(250) // 250; parseDuration('soon') // undefined
 */
export function parseDuration(v: Duration | undefined): number | undefined {
  let ms: number | undefined;
  if (typeof v === 'number') ms = Number.isFinite(v) && v >= 0 ? v : undefined;
  else if (typeof v === 'string') {
    const s = v.trim();
    if (/^\d+(\.\d+)?$/.test(s)) ms = Number(s);
    else {
      const re = /(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*/gy;
      let total = 0;
      let pos = 0;
      let m: RegExpExecArray | null;
      while ((m = re.exec(s)) !== null) {
        total += Number(m[1]) * UNITS[m[2]!]!;
        pos = re.lastIndex;
      }
      ms = pos === s.length && pos > 0 ? total : undefined;
    }
  }
  if (ms === undefined || !Number.isFinite(ms)) return undefined;
  const whole = Math.round(ms);
  return whole === 0 && ms > 0 ? 1 : whole;
}

/**
 * `1234` -> `1.23 s`, `61000` -> `1m01s`: for people.
 * @example formatMs(1500) // '1.50 s'
 */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 3_600_000) {
    const m = Math.floor(ms / 60_000);
    const s = Math.round((ms % 60_000) / 1000);
    return `${m}m${String(s).padStart(2, '0')}s`;
  }
  const h = Math.floor(ms / 3_600_000);
  const m = Math.round((ms % 3_600_000) / 60_000);
  return `${h}h${String(m).padStart(2, '0')}m`;
}
