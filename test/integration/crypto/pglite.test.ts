/** The tenant-encryption contract on embedded PGlite (in memory, from the migrated template). */
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { cryptoContract } from './contract.js';

cryptoContract({
  label: 'PGlite',
  async open() {
    const store = await openPgliteTestStore();
    return { store, close: () => store.close() };
  },
});
