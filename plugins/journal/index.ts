/** The default StateStore: the append-only journal in the `state.schema` schema. */
import { Tokens, instanceCachingFactory, type Plugin } from '../../src/plugin.js';
import { JournalStore } from './store.js';

export { JournalStore };

/** Registers the journal store. Registered by default. */
export function journal(): Plugin {
  return {
    name: 'journal',
    register(c, config) {
      c.register(Tokens.StateStore, { useFactory: instanceCachingFactory((dc) => new JournalStore(dc.resolve(Tokens.Database), config.state.schema)) });
    },
  };
}
