/**
 * A watchdog outside the main event loop, so that every stop ends the process even when a
 * step is busy in synchronous code (`while (true) {}`): then Node's signal handlers, the
 * deadline timer and the cleanup timer never get to run on the main thread.
 *
 * It is a worker thread with its own event loop:
 * - it watches SIGTERM and SIGINT itself (a libuv signal watcher on its own loop: the
 *   kernel's signal reaches it while the main thread is blocked);
 * - when a stop (a signal, or the `--deadline` stop time) is not taken up by the main
 *   thread within a short grace, it interrupts the main thread's JavaScript through the
 *   inspector (`Runtime.terminateExecution`): a busy loop is cut, the main thread's own
 *   stop path then runs (the step is abandoned and recorded, the lock released, exit
 *   143/130);
 * - if the process is still alive shortly after the cleanup deadline (the main thread is
 *   blocked in native code, which no interrupt reaches), it kills the process (SIGKILL,
 *   exit 137). Open transactions roll back on the server; the next apply recovers the step.
 */
import { Worker } from 'node:worker_threads';

export interface WatchdogOptions {
  /** How long cleanup may take after a stop. */
  cleanupDeadlineMs: number;
  /** The `--deadline` instant (epoch ms): the process must be gone by then. */
  deadlineAt?: number | undefined;
  /** When the run stops for the deadline (epoch ms). */
  deadlineStopAt?: number | undefined;
}

export interface Watchdog {
  /** The main thread took up a stop (it is responsive). */
  acknowledge(): void;
  /** Stop watching signals (before the main thread re-raises one to end the process). */
  close(): Promise<void>;
}

// Plain CommonJS run by the worker (eval): no TypeScript, no imports of ours.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { ack, cleanupMs, graceMs, deadlineAt, deadlineStopAt } = workerData;
const flag = new Int32Array(ack);
const say = (s) => { try { fs.writeSync(2, 'zsetup: watchdog: ' + s + '\\n'); } catch {} };
const timers = [];
const later = (ms, fn) => { const t = setTimeout(fn, Math.max(0, ms)); timers.push(t); return t; };
let interrupted = false;
function interruptMain(why) {
  if (interrupted || Atomics.load(flag, 0) !== 0) return;
  interrupted = true;
  say(why + '; the main thread did not respond (busy in synchronous code): interrupting it');
  try {
    const inspector = require('node:inspector');
    const session = new inspector.Session();
    session.connectToMainThread();
    session.post('Runtime.terminateExecution', () => { try { session.disconnect(); } catch {} });
  } catch (err) {
    say('cannot interrupt the main thread: ' + (err && err.message));
  }
}
function kill(why) {
  say(why + ': ending the process now (SIGKILL); open transactions roll back and the next apply recovers');
  process.kill(process.pid, 'SIGKILL');
}
const handles = [];
let first = 0;
function onSignal(signo) {
  const name = signo === 2 ? 'SIGINT' : 'SIGTERM';
  if (first) {
    // A second signal: the main thread ends the process at once if it can.
    later(graceMs, () => kill('second ' + name + ' and the process is still running'));
    return;
  }
  first = Date.now();
  later(graceMs, () => interruptMain(name + ' received'));
  later(cleanupMs + graceMs, () => kill('cleanup after ' + name + ' took longer than ' + cleanupMs + ' ms'));
}
try {
  process.noDeprecation = true;
  const { Signal } = process.binding('signal_wrap');
  for (const signo of [15, 2]) {
    const h = new Signal();
    h.onsignal = onSignal;
    if (h.start(signo) === 0) handles.push(h);
  }
} catch {
  // No signal watcher here: the deadline is still watched.
}
if (typeof deadlineStopAt === 'number') later(deadlineStopAt - Date.now() + graceMs, () => interruptMain('the deadline stop is due'));
if (typeof deadlineAt === 'number') later(deadlineAt - Date.now() + graceMs, () => kill('the deadline has passed and the run has not ended'));
parentPort.on('message', (m) => {
  if (m === 'close') {
    for (const h of handles) h.close();
    handles.length = 0;
    for (const t of timers) clearTimeout(t);
    parentPort.postMessage('closed');
    parentPort.close();
  }
});
`;

/**
 * Start the watchdog for one run. Returns undefined where worker threads cannot start
 * (the run then relies on the main thread's own timers, as before).
 */
export function startWatchdog(o: WatchdogOptions): Watchdog | undefined {
  const ack = new SharedArrayBuffer(4);
  const flag = new Int32Array(ack);
  let worker: Worker;
  try {
    worker = new Worker(WORKER, {
      eval: true,
      workerData: {
        ack,
        cleanupMs: o.cleanupDeadlineMs,
        graceMs: Math.max(100, Math.min(1000, o.cleanupDeadlineMs / 4)),
        deadlineAt: o.deadlineAt,
        deadlineStopAt: o.deadlineStopAt,
      },
      stdout: false,
      stderr: false,
      // Its own small heap: it only waits.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
    });
  } catch {
    return undefined;
  }
  worker.unref();
  worker.on('error', () => undefined);
  let closing: Promise<void> | undefined;
  return {
    acknowledge() {
      Atomics.store(flag, 0, 1);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          void worker.terminate().catch(() => undefined);
          resolve();
        };
        const t = setTimeout(done, 250);
        worker.once('message', done);
        worker.once('exit', done);
        worker.postMessage('close');
      });
      return closing;
    },
  };
}
