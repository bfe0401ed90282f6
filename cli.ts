#!/usr/bin/env node
/**
 * The `zsetup` command: the CLI (src/cli) with the built-in plugins bound as defaults.
 */
import { runCli } from './src/cli/program.js';
import { defaultPlugins } from './plugins/index.js';

runCli({ defaults: defaultPlugins });
