/** commander, loaded with require (see src/cjs.ts for why). */
import { requireCjs } from '../cjs.js';

const commander = requireCjs('commander') as typeof import('commander');
export const Command = commander.Command;
export type Command = import('commander').Command;
export const Option = commander.Option;
export type Option = import('commander').Option;
export const CommanderError = commander.CommanderError;
export type CommanderError = import('commander').CommanderError;
