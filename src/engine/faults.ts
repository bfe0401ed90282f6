/**
 * Errors a step's code leaves behind, outside the promise the engine awaits: a throw in a
 * timer, a rejection nobody handles, a call to `process.exit`. Left alone, Node ends the
 * process at once (with a stack trace, or worse, exit 0 from `process.exit(0)`) and the step
 * stays `started`, so a run could exit 0 without doing its work.
 *
 * While a run lasts, the trap catches them and routes each to the step whose code caused
 * it: every step runs in its own AsyncLocalStorage scope, which timers and promises
 * created by that code carry with them. An error with no scope (a plugin's, the config's)
 * goes to the run. When the event loop runs dry while steps are still running, their
 * promises can never settle: the trap says so instead of letting Node exit.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** A step's handle in the trap. */
export interface FaultScope {
  readonly step: string;
  /** An error the step's code left behind (`how`: what kind of escape it was). */
  fault(err: unknown, how: string): void;
  /** The process has nothing left to do while this step is still running. */
  idle(): void;
}

/** Thrown in place of ending the process when code calls `process.exit()` during a run. */
export class ProcessExitError extends Error {
  constructor(
    readonly exitCode: unknown,
    call: 'exit' | 'abort' = 'exit',
  ) {
    super(`called process.${call}(${exitCode === undefined ? '' : describeCode(exitCode)}): code run by zsetup must not end the process (nothing would be recorded); throw an error to fail the step instead`);
    this.name = 'ProcessExitError';
  }
}

function describeCode(c: unknown): string {
  return typeof c === 'number' || typeof c === 'string' ? String(c) : typeof c;
}

let active = 0;

/** Whether a trap is catching errors right now (the CLI's last-resort handler then stays quiet). */
export function faultTrapActive(): boolean {
  return active > 0;
}

export class FaultTrap {
  private readonly als = new AsyncLocalStorage<FaultScope>();
  private readonly running = new Set<FaultScope>();
  private installed = false;

  /** `onRunFault`: an error no step can be blamed for (`who`: whose code, when known). */
  constructor(private readonly onRunFault: (err: unknown, how: string, who?: string) => void) {}

  /** Report a fault of code that is not a step's (`who`: a plugin's hook, say) to the run. */
  runFault(err: unknown, how: string, who: string): void {
    this.onRunFault(err, how, who);
  }

  /** Start catching; the returned function stops it and restores `process.exit`. */
  install(): () => void {
    if (this.installed) return () => undefined;
    this.installed = true;
    active++;
    const onException = (err: unknown) => this.route(err, 'an uncaught exception (a throw in a callback or timer)');
    const onRejection = (reason: unknown) => this.route(reason, 'an unhandled promise rejection');
    const onIdle = () => {
      for (const s of [...this.running]) s.idle();
    };
    const exit = process.exit;
    const abort = process.abort;
    // process.exit() ends in process.reallyExit(): code that calls the latter directly is
    // caught the same way.
    const p = process as unknown as { reallyExit?: (code?: number) => never };
    const reallyExit = p.reallyExit;
    process.on('uncaughtException', onException);
    process.on('unhandledRejection', onRejection);
    process.on('beforeExit', onIdle);
    process.exit = ((code?: unknown) => {
      throw new ProcessExitError(code);
    }) as typeof process.exit;
    process.abort = (() => {
      throw new ProcessExitError(undefined, 'abort');
    }) as typeof process.abort;
    if (typeof reallyExit === 'function') {
      p.reallyExit = ((code?: unknown) => {
        throw new ProcessExitError(code);
      }) as never;
    }
    return () => {
      process.off('uncaughtException', onException);
      process.off('unhandledRejection', onRejection);
      process.off('beforeExit', onIdle);
      process.exit = exit;
      process.abort = abort;
      if (typeof reallyExit === 'function') p.reallyExit = reallyExit;
      this.installed = false;
      active--;
    };
  }

  /** Run `fn` (a step's code) in `scope`: what it leaves behind is routed to it. */
  run<T>(scope: FaultScope, fn: () => T): T {
    return this.als.run(scope, fn);
  }

  /** The step is running (or no longer): a fault without a scope goes to the only running step. */
  enter(scope: FaultScope): void {
    this.running.add(scope);
  }

  leave(scope: FaultScope): void {
    this.running.delete(scope);
  }

  private route(err: unknown, how: string): void {
    const scope = this.als.getStore() ?? (this.running.size === 1 ? [...this.running][0] : undefined);
    if (scope) scope.fault(err, how);
    else this.onRunFault(err, how);
  }
}
