/** Exit codes, documented in the README. Only the CLI turns results into these. */
export const EXIT = {
  ok: 0,
  failed: 1,
  config: 2,
  usage: 2,
  'lock-timeout': 3,
  drift: 4,
  unreachable: 5,
  pending: 10,
  error: 1,
  SIGINT: 130,
  SIGTERM: 143,
} as const;

export function exitCodeOf(status: string): number {
  return (EXIT as Record<string, number>)[status] ?? 1;
}
