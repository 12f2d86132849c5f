/**
 * The tenant-encryption contract on real PostgreSQL: a fresh database per suite. Here the
 * concurrency tests are real (a pool of connections); on PGlite transactions queue.
 */
import { describe, it } from 'vitest';
import { openPostgresTestStore } from '../../../src/store/testing.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';
import { cryptoContract } from './contract.js';

const available = await postgresAvailable();

if (available) {
  cryptoContract({
    label: 'PostgreSQL',
    async open(opts) {
      const { store, drop } = await openPostgresTestStore(POSTGRES_URL, opts);
      return { store, close: drop };
    },
  });
} else {
  // A file without tests fails the run; this reports the skip instead.
  describe.skip('tenant encryption contract [PostgreSQL]: not reachable, see the notice above', () => {
    it('runs against PostgreSQL', () => {});
  });
}
