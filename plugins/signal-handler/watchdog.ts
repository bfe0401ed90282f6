/**
 * A watchdog outside the main event loop, so that every stop ends the process even when a
 * step is busy in synchronous code (`while (true) {}`): then Node's signal handlers, the
 * deadline timer and the cleanup timer never get to run on the main thread.
 *
 * It is a worker thread with its own event loop. It watches SIGTERM and SIGINT itself (a
 * libuv signal watcher on its own loop, which the kernel's signal reaches while the main
 * thread is blocked) and knows the `--deadline`. When the process is still alive at the
 * cleanup deadline of the first signal, 0.1 s after a second signal that the main thread
 * did not act on, or at the deadline, it ends the process the way
 * the signal would: through the inspector it removes the main thread's signal listeners
 * (an interrupt, which runs even inside a busy loop), closes its own watchers and raises the
 * signal with its default action (exit status 143 for SIGTERM, 130 for SIGINT). Where even
 * that interrupt cannot run (the main thread blocked in native code), it kills the process
 * (SIGKILL, 137). Either way open transactions roll back on the server, and the next apply
 * recovers the step that was running. When the main thread is responsive, it ends the run
 * itself before any of this (the step is abandoned and recorded, the lock released).
 */
import { Worker } from 'node:worker_threads';

export interface WatchdogOptions {
  /** How long cleanup may take after a stop. */
  cleanupDeadlineMs: number;
  /** The `--deadline` instant (epoch ms): the process must be gone by then. */
  deadlineAt?: number | undefined;
}

export interface Watchdog {
  /**
   * Block until the watchdog watches the signals (at most `ms`): called before the first
   * step's code runs, since a step busy from its start would otherwise keep a watchdog that
   * is slow to start (a loaded machine: seen at a load average of 8) from ever seeing the
   * signal. Returns at once when it is ready already, as it nearly always is.
   */
  waitReady(ms: number): boolean;
  /** Stop watching (before the main thread re-raises a signal to end the process). */
  close(): Promise<void>;
}

/** After a second signal: how long the watchdog leaves the main thread to end the process itself. */
export const WATCHDOG_GRACE_MS = 100;

// Plain CommonJS run by the worker (eval): no TypeScript, no imports of ours.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { cleanupMs, graceMs, deadlineAt, ready } = workerData;
const say = (s) => { try { fs.writeSync(2, 'zsetup: ' + s + '\\n'); } catch {} };
const timers = [];
const later = (ms, fn) => timers.push(setTimeout(fn, Math.max(0, ms)));
const handles = [];
let ending = false;
function end(signal, why) {
  if (ending) return;
  ending = true;
  say(why + ': ending the process now (' + signal + '); open transactions roll back and the next apply recovers');
  const raise = () => {
    for (const h of handles) h.close();
    handles.length = 0;
    process.kill(process.pid, signal);
  };
  // Where the interrupt cannot run (the main thread blocked in native code): SIGKILL.
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), 300);
  try {
    const inspector = require('node:inspector');
    const session = new inspector.Session();
    session.connectToMainThread();
    session.post('Runtime.evaluate', { expression: "process.removeAllListeners('SIGTERM'); process.removeAllListeners('SIGINT'); 0" }, raise);
  } catch {
    process.kill(process.pid, 'SIGKILL');
  }
}
let first;
function onSignal(signo) {
  const name = signo === 2 ? 'SIGINT' : 'SIGTERM';
  if (first) return later(graceMs, () => end(name, 'second ' + name + ' and the process is still running'));
  first = name;
  later(cleanupMs, () => end(name, 'cleanup after ' + name + ' took longer than ' + (cleanupMs / 1000) + ' s (a step busy in synchronous code?)'));
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
// Watching: the main thread may now run step code.
Atomics.store(ready, 0, 1);
Atomics.notify(ready, 0);
if (typeof deadlineAt === 'number') later(deadlineAt - Date.now(), () => end(first || 'SIGTERM', 'the deadline has passed and the run has not ended'));
parentPort.on('message', (m) => {
  if (m !== 'close') return;
  for (const h of handles) h.close();
  handles.length = 0;
  for (const t of timers) clearTimeout(t);
  parentPort.postMessage('closed');
  parentPort.close();
});
`;

/**
 * Start the watchdog for one run. Returns undefined where worker threads cannot start
 * (the run then relies on the main thread's own timers, as before).
 */
export function startWatchdog(o: WatchdogOptions): Watchdog | undefined {
  let worker: Worker;
  const ready = new Int32Array(new SharedArrayBuffer(4));
  try {
    worker = new Worker(WORKER, {
      eval: true,
      workerData: { cleanupMs: o.cleanupDeadlineMs, graceMs: WATCHDOG_GRACE_MS, deadlineAt: o.deadlineAt, ready },
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
    waitReady(ms) {
      if (Atomics.load(ready, 0) === 1) return true;
      return Atomics.wait(ready, 0, 0, ms) !== 'timed-out';
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
