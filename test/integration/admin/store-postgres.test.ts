/** The admin store contract on real PostgreSQL (skipped with a notice when absent, failing under CI). */
import { describe, it } from 'vitest';
import { openPostgresTestStore } from '../../../src/store/testing.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';
import { adminStoreContract } from './store.contract.js';

const available = await postgresAvailable();

if (available) {
  adminStoreContract({
    label: 'PostgreSQL',
    concurrent: true,
    async open() {
      const { store, drop } = await openPostgresTestStore(POSTGRES_URL, { poolSize: 6 });
      return { store, close: drop };
    },
  });
} else {
  describe('admin store [PostgreSQL]', () => {
    it.skip('PostgreSQL is not reachable: see the notice above', () => {});
  });
}
