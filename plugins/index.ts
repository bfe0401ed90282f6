/** The built-in plugins. `defaultPlugins()` is what every config starts with. */
import type { Plugin } from '../src/index.js';
import { pool } from './pool/index.js';
import { journal } from './journal/index.js';
import { lock } from './lock/index.js';
import { steps } from './steps/index.js';

export { pool, journal, lock, steps };

/** Registered before the config's own plugins, which may replace any of them. */
export function defaultPlugins(): Plugin[] {
  return [pool(), journal(), lock(), steps()];
}
