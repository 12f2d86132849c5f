/** Change notifications on embedded PGlite (in process, loaded from the migrated template). */
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { notifyContract } from './notify.contract.js';

notifyContract('PGlite', async () => {
  const store = await openPgliteTestStore();
  return { store, close: () => store.close() };
});
