// Preloaded by test/run.mjs into every test process and, through the environment, every
// CLI a test starts: V8 compiles WebAssembly (PGlite's PostgreSQL) with its baseline
// compiler only, without the optimising recompilation it otherwise does in background
// threads. Same semantics; a PGlite process that lives a few seconds, as in the tests,
// spends about a third less CPU (≈2.4 -> 1.6 s for a start, a plan and a close on this
// machine). Run the tests as shipped with ZSETUP_TEST_WASM_TIERUP=1.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');
