/**
 * The run lock. Registers the lock kinds `advisory` (a session advisory lock, the default
 * on PostgreSQL) and `lease` (a lease row), and the run lock itself (`Tokens.Lock`): the
 * registered kind `lock.kind` names, whichever plugin registered it (the `pool` plugin
 * registers `datadir`, PGlite's default).
 */
import { Tokens, createLock, instanceCachingFactory, type LockKind, type Plugin } from '../../src/plugin.js';
import { AdvisoryLock, hash32 } from './advisory.js';
import { LeaseLock } from './lease.js';

export { AdvisoryLock, LeaseLock, hash32 };

/** `lock.kind: "advisory"`: a session advisory lock on a dedicated connection (PostgreSQL). */
export const advisoryKind: LockKind = {
  name: 'advisory',
  create(c, config) {
    const db = c.resolve(Tokens.Database);
    if (!db.dedicated) throw new Error(`it needs a PostgreSQL server (database.url); ${db.target} has no connections of its own (the embedded PGlite is locked by lock.kind "datadir", its default)`);
    return new AdvisoryLock(db, config.lock.name);
  },
};

/** `lock.kind: "lease"`: a lease row with heartbeat and fencing token, in `state.schema`. */
export const leaseKind: LockKind = {
  name: 'lease',
  create: (c, config) => new LeaseLock(c.resolve(Tokens.Database), config.lock.name, config.lock.leaseTtlMs, config.state.schema),
};

/** Registers the advisory and lease kinds, and the run lock `lock.kind` chooses. Registered by default. */
export function lock(): Plugin {
  return {
    name: 'lock',
    register(c, config) {
      c.register(Tokens.LockKind, { useValue: advisoryKind });
      c.register(Tokens.LockKind, { useValue: leaseKind });
      c.register(Tokens.Lock, { useFactory: instanceCachingFactory((dc) => createLock(dc, config)) });
    },
  };
}
