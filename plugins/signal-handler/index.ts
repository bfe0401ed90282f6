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
 * Registered by default; `signalHandler(false)` in `plugins` leaves it out (embedders
 * that handle signals themselves pass their own `signal` to `apply()`).
 * @example plugins: [signalHandler({ cleanupDeadline: '5s' })]
 */
import { Tokens, parseDuration, type Duration, type Hooks, type Plugin } from '../../src/index.js';

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
      if (options.cleanupDeadline !== undefined && fromOption === undefined) throw new Error(`cleanupDeadline: expected a duration such as 10s, got ${JSON.stringify(options.cleanupDeadline)}`);
      const hooks: Hooks = {
        onRun(run) {
          const deadlineMs = fromOption ?? run.cleanupDeadlineMs;
          let first: NodeJS.Signals | undefined;
          let timer: NodeJS.Timeout | undefined;
          const exitNow = (sig: NodeJS.Signals, why: string) => {
            run.events.emit({ type: 'log', level: 'warn', message: `${why}: exiting now; open transactions roll back and the next apply recovers` });
            dispose();
            process.kill(process.pid, sig); // default action: the process ends with this signal
          };
          const onSignal = (sig: NodeJS.Signals) => {
            if (first) return exitNow(sig, `second ${sig}`);
            first = sig;
            run.stop({ kind: 'signal', signal: sig as 'SIGINT' | 'SIGTERM' });
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
          return dispose;
        },
      };
      c.register(Tokens.Hooks, { useValue: hooks });
    },
  };
}
