/** The store contract on embedded PGlite (in memory, loaded from the migrated template). */
import { openStore } from '../../../src/store/index.js';
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { storeContract } from './contract.js';

storeContract({
  label: 'PGlite',
  async open() {
    const store = await openPgliteTestStore();
    return { store, close: () => store.close() };
  },
  async openUnmigrated() {
    const store = await openStore({ memory: true });
    return { store, close: () => store.close() };
  },
});
