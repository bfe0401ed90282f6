import { createHash } from 'node:crypto';

/**
 * Normalise the text that defines a step before hashing it, so that a checkout with
 * CRLF line endings or an editor that strips trailing spaces does not look like drift:
 * line endings -> LF, trailing whitespace of every line removed, leading/trailing blank
 * lines removed.
 */
export function normalizeSource(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((l) => l.replace(/[ \t\f\v]+$/, ''))
    .join('\n')
    .replace(/^\n+|\n+$/g, '');
}

/**
 * sha256 (hex) of the normalised source.
 * @example checksum(readFileSync('sql/01_tables.sql', 'utf8')) // the same for the same SQL, whatever its line endings
 */
export function checksum(text: string): string {
  return createHash('sha256').update(normalizeSource(text)).digest('hex');
}
