/** The audit contract on embedded PGlite (in memory, loaded from the migrated template). */
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { auditContract } from './contract.js';

auditContract({
  label: 'PGlite',
  async open() {
    const store = await openPgliteTestStore();
    return { store, close: () => store.close() };
  },
});
