/** The store contract on embedded PGlite (in memory, loaded from the migrated template). */
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { storeContract } from './contract.js';

storeContract({
  label: 'PGlite',
  async open() {
    const store = await openPgliteTestStore();
    return { store, close: () => store.close() };
  },
});
