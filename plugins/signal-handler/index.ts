/**
 * The `signal-handler` plugin: SIGTERM and SIGINT stop the run gracefully. The first
 * signal aborts the run's one AbortSignal (steps stop at their next checkpoint, running
 * SQL is cancelled on the server, the step is recorded `interrupted`, the lock is
 * released) and the CLI exits 143 / 130. Cleanup has its own deadline (default 10 s,
 * well inside Kubernetes' 30 s grace period); past it, or on a second signal, the
 * process ends at once by re-raising the signal with its default action: open
 * transactions roll back on the server, so the database stays consistent and the next
 * `apply` recovers. Nothing here ends the process with an exit call.
 *
 * During `apply`, a watchdog thread (watchdog.ts) does the same when the main thread cannot:
 * a step busy in synchronous code blocks every signal handler and timer on it, and the
 * watchdog still ends the process at the cleanup deadline (or at the
 * `--deadline`). `ZSETUP_WATCHDOG=0` turns it off.
 *
 * Registered by default; `signalHandler(false)` in `plugins` leaves it out (embedders
 * that handle signals themselves pass their own `signal` to `apply()`).
 * @example plugins: [signalHandler({ cleanupDeadline: '5s' })]
 */
import { Tokens, parseDuration, MAX_DURATION_MS, type Duration, type Hooks, type Plugin } from '../../src/plugin.js';
import { startWatchdog, type Watchdog } from './watchdog.js';

export interface SignalHandlerOptions {
  /** How long cleanup may take after the first signal. @default apply.cleanupDeadline ("10s") */
  cleanupDeadline?: Duration;
}

export function signalHandler(options: SignalHandlerOptions | false = {}): Plugin {
  return {
    name: 'signal-handler',
    register(c) {
      if (options === false) return;
      const fromOption = options.cleanupDeadline === undefined ? undefined : parseDuration(options.cleanupDeadline);
      if (options.cleanupDeadline !== undefined && (fromOption === undefined || fromOption > MAX_DURATION_MS))
        throw new Error(`cleanupDeadline: expected a duration such as 10s (at most 24d), got ${JSON.stringify(options.cleanupDeadline)}`);
      // The watchdog of the current run until the first step starts (see Watchdog.waitReady).
      let starting: Watchdog | undefined;
      const hooks: Hooks = {
        onEvent(e) {
          if (e.type !== 'step.started' || !starting) return;
          starting.waitReady(3000);
          starting = undefined;
        },
        onRun(run) {
          const deadlineMs = fromOption ?? run.cleanupDeadlineMs;
          // A worker thread that still ends the process when the main thread is blocked in
          // synchronous code (see watchdog.ts). Only `apply` runs steps.
          const dog = run.command === 'apply' && process.env.ZSETUP_WATCHDOG !== '0' ? startWatchdog({ cleanupDeadlineMs: deadlineMs, deadlineAt: run.deadlineAt }) : undefined;
          starting = dog;
          let first: NodeJS.Signals | undefined;
          let timer: NodeJS.Timeout | undefined;
          let exiting = false;
          const exitNow = (sig: NodeJS.Signals, why: string) => {
            if (exiting) return;
            exiting = true;
            run.events.emit({ type: 'log', level: 'warn', message: `${why}: exiting now; open transactions roll back and the next apply recovers` });
            dispose();
            // The watchdog's own signal watcher must be gone first, or the signal raised
            // below would be caught again instead of ending the process.
            const raise = () => process.kill(process.pid, sig); // default action: the process ends with this signal
            if (dog) void dog.close().then(raise, raise);
            else raise();
          };
          const onSignal = (sig: NodeJS.Signals) => {
            if (first) return exitNow(sig, `second ${sig}`);
            first = sig;
            run.stop({ kind: 'signal', signal: sig as 'SIGINT' | 'SIGTERM' }, { cleanupDeadlineMs: deadlineMs });
            timer = setTimeout(() => exitNow(sig, `cleanup took longer than ${Math.round(deadlineMs / 100) / 10} s`), deadlineMs);
            timer.unref();
          };
          const dispose = () => {
            clearTimeout(timer);
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
          };
          process.on('SIGINT', onSignal);
          process.on('SIGTERM', onSignal);
          return () => {
            dispose();
            void dog?.close();
          };
        },
      };
      c.register(Tokens.Hooks, { useValue: hooks });
    },
  };
}
