/**
 * The lock skeleton: what every run lock does the same way, written once. A lock kind
 * says how to try once, who holds the lock, how to check that it still holds it and how
 * to give it up; the skeleton polls with backoff, gives up with `LockTimeoutError`
 * (naming the holder) at the timeout or when the signal aborts, reports waits every few
 * seconds, watches the held lock (its `lost` signal) and releases it once, bounded in time.
 *
 * @example
 * ```ts
 * // A lock held as a row lock in an open transaction (examples/table-lock has all of it).
 * async acquire(o: AcquireOptions): Promise<LockHandle> {
 *   const conn = await this.db.dedicated!(`zsetup ${o.owner}`);
 *   await pollAcquire(o, {
 *     what: `table lock "${this.name}"`,
 *     attempt: () => this.tryOnce(conn), // undefined: someone else holds it
 *     holder: () => this.holder(),
 *   });
 *   return holdLock({
 *     owner: o.owner,
 *     fence: this.fenceFor(conn),
 *     everyMs: 1000,
 *     check: async () => ((await conn.query('SELECT 1').then(() => true, () => false)) ? undefined : 'its connection is gone'),
 *     release: async (lost) => { if (!lost) await conn.exec('ROLLBACK'); await conn.close(); },
 *   });
 * }
 * ```
 */
import { LockTimeoutError } from '../errors.js';
import { describeHolder, pollDelay, sleep, withTimeout, WAIT_REPORT_MS, type AcquireOptions, type LockHandle, type LockHolder } from './lock.js';

/** How one lock kind polls: one try, who holds it, how a timeout says so. */
export interface PollSpec<T> {
  /** The lock, as the timeout message names it: `advisory lock "zsetup"`, `data-dir lock on /data`. */
  readonly what: string;
  /**
   * One try, outside any transaction: what was acquired, or undefined when someone else
   * holds the lock. A fault worth waiting through (a dropped connection) is the try's to
   * absorb (return undefined); anything it throws ends the wait with that error.
   */
  attempt(): Promise<T | undefined>;
  /** Who holds the lock now, for `onWait` and the timeout message (a failure counts as unknown). */
  holder(): Promise<LockHolder | undefined>;
  /** The holder in the timeout message. @default describeHolder */
  describe?(holder: LockHolder | undefined): string;
  /** The timeout's hint. @default "another zsetup run is working; wait for it, or raise --lock-timeout" */
  readonly hint?: string;
}

/**
 * Try until `spec.attempt()` gets the lock: first at once, then after `pollDelay` (growing,
 * with jitter), never past `o.timeoutMs` (0 tries once) nor after `o.signal` aborts, both
 * of which end in `LockTimeoutError` naming the holder. `o.onWait` hears about the wait at
 * most every `WAIT_REPORT_MS`.
 */
export async function pollAcquire<T>(o: AcquireOptions, spec: PollSpec<T>): Promise<T> {
  const started = Date.now();
  let lastReport = 0;
  for (let attempt = 0; ; attempt++) {
    const got = await spec.attempt();
    if (got !== undefined) return got;
    const waited = Date.now() - started;
    if (waited >= o.timeoutMs || o.signal?.aborted) {
      const h = await spec.holder().catch(() => undefined);
      throw new LockTimeoutError(`could not acquire the ${spec.what} within ${Math.round(o.timeoutMs / 1000)} s: held by ${(spec.describe ?? describeHolder)(h)}`, {
        hint: spec.hint ?? 'another zsetup run is working; wait for it, or raise --lock-timeout',
      });
    }
    if (o.onWait && Date.now() - lastReport >= WAIT_REPORT_MS) {
      lastReport = Date.now();
      o.onWait(await spec.holder().catch(() => undefined), waited);
    }
    await sleep(Math.min(pollDelay(attempt), Math.max(0, o.timeoutMs - waited)), o.signal);
  }
}

/** How one lock kind holds: its fence, its check, its release. */
export interface HoldSpec {
  readonly owner: string;
  /** The handle's fence (see `LockHandle.fence`). */
  readonly fence: string | undefined;
  /** How often `check()` runs while the lock is held. */
  readonly everyMs: number;
  /**
   * One check that the lock is still ours: undefined when it is, else why it is not (the
   * `lost` reason). A check that throws counts as lost with its message: a check that must
   * ride out a passing fault catches it. A tick is skipped while the last check runs.
   */
  check(): Promise<string | undefined>;
  /**
   * Give the lock up. `lost`: it was lost already, so leave alone what may be another
   * holder's now. Bounded by `releaseBoundMs`; failures are ignored (the lock ends with
   * the connection, the lease with its expiry).
   */
  release(lost: boolean): Promise<void>;
  /** @default 5000 */
  readonly releaseBoundMs?: number;
}

/** A held lock: the handle, plus `lose()` for what says so between checks (a connection's end). */
export interface HeldLock extends LockHandle {
  /** Mark the lock lost now, with this reason. Ignored once lost or released. */
  lose(reason: string): void;
}

/**
 * The handle of a lock just acquired: `lost` aborts (with an Error saying why) when a
 * check or `lose()` finds it gone; `release()` is idempotent, stops the checks and never
 * takes longer than `releaseBoundMs`.
 */
export function holdLock(spec: HoldSpec): HeldLock {
  const ac = new AbortController();
  let released = false;
  let checking = false;
  const lose = (reason: string) => {
    if (!released && !ac.signal.aborted) ac.abort(new Error(reason));
  };
  const timer = setInterval(() => {
    if (checking || released || ac.signal.aborted) return;
    checking = true;
    spec
      .check()
      .then(
        (reason) => reason !== undefined && lose(reason),
        (err: unknown) => lose(String((err as Error)?.message ?? err)),
      )
      .finally(() => (checking = false));
  }, spec.everyMs);
  timer.unref();
  ac.signal.addEventListener('abort', () => clearInterval(timer), { once: true });
  return {
    owner: spec.owner,
    lost: ac.signal,
    fence: spec.fence,
    lose,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      // Bounded: golang-migrate lists its unlock without a timeout as a known bug.
      await withTimeout(spec.release(ac.signal.aborted).catch(() => undefined), spec.releaseBoundMs ?? 5000);
    },
  };
}
