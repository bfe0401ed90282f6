/** The built-in plugins. `defaultPlugins()` is what every config starts with. */
import type { Plugin } from '../src/index.js';
import { pool } from './pool/index.js';
import { journal } from './journal/index.js';
import { lock } from './lock/index.js';
import { steps } from './steps/index.js';
import { signalHandler } from './signal-handler/index.js';

export { pool, journal, lock, steps, signalHandler };

/**
 * Registered before the config's own plugins. A config plugin with the same name
 * replaces the built-in (`signalHandler(false)` leaves signal handling out).
 */
export function defaultPlugins(): Plugin[] {
  return [pool(), journal(), lock(), steps(), signalHandler()];
}
