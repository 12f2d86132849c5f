/**
 * The audit contract on real PostgreSQL, where concurrent appends really run on several
 * connections at once (PGlite has one and queues them).
 */
import { describe, it } from 'vitest';
import { openPostgresTestStore } from '../../../src/store/testing.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';
import { auditContract } from './contract.js';

const available = await postgresAvailable();

if (available) {
  auditContract({
    label: 'PostgreSQL',
    async open() {
      const { store, drop } = await openPostgresTestStore(POSTGRES_URL, { poolSize: 12 });
      return { store, close: drop };
    },
  });
} else {
  describe('audit contract [PostgreSQL]', () => {
    it.skip('needs PostgreSQL at 127.0.0.1:5432 (see test/helpers/services.ts)', () => {});
  });
}
