/**
 * CommonJS packages are loaded with `require`, not `import`: importing a CommonJS file
 * from ESM makes Node scan its source for named exports first, which cost about 90 ms
 * per process for reflect-metadata, tsyringe, commander, cosmiconfig and jiti together
 * (measured on this project's 2-vCPU machine). `zsetup plan` has 0.3 s in all.
 */
import { createRequire } from 'node:module';

/** @internal (tsconfig `stripInternal`): not part of the published declarations. */
export const requireCjs = createRequire(import.meta.url);

// tsyringe throws at load time without the Reflect polyfill: load it first, once.
requireCjs('reflect-metadata');
