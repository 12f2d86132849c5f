/**
 * The store contract on embedded PGlite running on its own worker thread (the default for a
 * data directory): the same SQL, errors, types and notifications as in process.
 */
import { openStore } from '../../../src/store/index.js';
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { storeContract } from './contract.js';

storeContract({
  label: 'PGlite (worker thread)',
  async open() {
    const store = await openPgliteTestStore('worker');
    return { store, close: () => store.close() };
  },
  async openUnmigrated() {
    const store = await openStore({ memory: true, thread: 'worker' });
    return { store, close: () => store.close() };
  },
});
