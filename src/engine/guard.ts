/**
 * The knex a step sees (`ctx.db`), guarded so that a step cannot make the engine report a
 * lie about its outcome:
 * - the step's own transaction (`ctx.db` of a transactional step) is committed by the
 *   engine together with the step's `done` record: `ctx.db.commit()` is refused, and
 *   `ctx.db.rollback()` fails the step (its work is gone; recording it done would lie);
 * - a transaction the step opens (`ctx.db.transaction(fn)`) that is rolled back without an
 *   error rejects its promise, instead of knex's default of resolving it as if it had
 *   succeeded (`doNotRejectOnRollback`).
 */
import type { Knex } from 'knex';

/** What the guarded step transaction saw the step do to it. */
export interface TransactionUse {
  /** `rollback` when the step rolled the transaction back (with `error`, if it gave one). */
  ended?: { how: 'rollback'; error?: unknown };
}

/** Thrown by `ctx.db.commit()` on the step's own transaction. */
export class CommitRefused extends Error {
  constructor() {
    super('ctx.db.commit(): the engine commits the step\'s transaction together with its record when run() returns; do not commit it yourself (throw to roll it back)');
    this.name = 'CommitRefused';
  }
}

/** knex's message for a transaction rolled back with no reason. */
export const KNEX_BARE_ROLLBACK = /^Transaction rejected with non-error: undefined$/;

/**
 * Guard a knex instance or transaction. `own`: this is the step's own transaction (the
 * engine commits it); `use` records what the step did to it.
 */
export function guardKnex<T extends Knex | Knex.Transaction>(k: T, own?: TransactionUse): T {
  return new Proxy(k, {
    get(target, prop, receiver) {
      if (prop === 'transaction' || prop === 'savepoint') {
        const original = Reflect.get(target, prop, receiver) as (c?: unknown, cfg?: unknown) => unknown;
        return (container?: unknown, config?: Record<string, unknown>) => {
          if (typeof container === 'function') {
            const fn = container as (trx: Knex.Transaction) => unknown;
            return original.call(target, (trx: Knex.Transaction) => fn(guardKnex(trx)), { doNotRejectOnRollback: false, ...(config ?? {}) });
          }
          // transaction(config) / transaction(): the caller commits and rolls back by hand.
          return original.call(target, container, config);
        };
      }
      if (own && prop === 'commit') {
        return () => Promise.reject(new CommitRefused());
      }
      if (own && prop === 'rollback') {
        const original = Reflect.get(target, prop, receiver) as (e?: unknown) => Promise<unknown>;
        return (error?: unknown) => {
          own.ended = { how: 'rollback', error };
          return original.call(target, error);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}
