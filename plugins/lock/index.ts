/**
 * The run lock. PostgreSQL: the session advisory lock (default) or the lease row
 * (`lock.kind: "lease"`). PGlite: the data-dir lock the pool already holds while the
 * database is open, so the run lock is that one.
 */
import { Tokens, instanceCachingFactory, type Lock, type Plugin } from '../../src/plugin.js';
import { AdvisoryLock, hash32 } from './advisory.js';
import { LeaseLock } from './lease.js';

export { AdvisoryLock, LeaseLock, hash32 };

/** Registers the run lock chosen by `lock.kind`. Registered by default. */
export function lock(): Plugin {
  return {
    name: 'lock',
    register(c, config) {
      c.register(Tokens.Lock, {
        useFactory: instanceCachingFactory((dc): Lock => {
          const db = dc.resolve(Tokens.Database);
          if (db.dialect === 'pglite') return heldByDataDir;
          return config.lock.kind === 'lease'
            ? new LeaseLock(db, config.lock.name, config.lock.leaseTtlMs, config.state.schema)
            : new AdvisoryLock(db, config.lock.name);
        }),
      });
    },
  };
}

/** PGlite: the pool's data-dir lock already makes this process the only one. */
const heldByDataDir: Lock = {
  description: 'data-dir lock',
  async acquire(o) {
    return { owner: o.owner, lost: new AbortController().signal, async release() {} };
  },
  async holder() {
    return undefined;
  },
};
