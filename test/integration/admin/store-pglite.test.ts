/** The admin store contract on embedded PGlite. */
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { adminStoreContract } from './store.contract.js';

adminStoreContract({
  label: 'PGlite',
  concurrent: false,
  async open() {
    const store = await openPgliteTestStore();
    return { store, close: () => store.close() };
  },
});
