/** The built-in plugins. `defaultPlugins()` is what every config starts with. */
import type { Plugin } from '../src/plugin.js';
import { pool } from './pool/index.js';
import { journal } from './journal/index.js';
import { lock } from './lock/index.js';
import { steps } from './steps/index.js';
import { signalHandler } from './signal-handler/index.js';
import { projections } from './projections/index.js';

export { pool, journal, lock, steps, signalHandler, projections };
export { prefill, copyOf, Prefill, runPrefill, Folder, Tables, changeStatement, tablesDdl, STATE_TABLES_DDL, MAX_FAILURE_COUNT } from './projections/index.js';
export type { PrefillStep, ProjectionSpec, TableSpec, ColumnSpec, IndexSpec, StoredEvent, Change, Reducer, Row } from './projections/index.js';
export type { SignalHandlerOptions } from './signal-handler/index.js';
// The built-in implementations, for tests and for plugins that wrap them.
export { JournalStore } from './journal/index.js';
export { AdvisoryLock, LeaseLock } from './lock/index.js';
export { DataDirLock } from './pool/datadir.js';

/**
 * Registered before the config's own plugins. A config plugin with the same name
 * replaces the built-in (`signalHandler(false)` leaves signal handling out).
 */
export function defaultPlugins(): Plugin[] {
  return [pool(), journal(), lock(), steps(), projections(), signalHandler()];
}
