/** The limit backend contract on the in-memory backend, with a virtual clock. */
import { createMemoryBackend } from '../../../src/limits/memory-backend.js';
import { limitBackendContract } from './backend.contract.js';

limitBackendContract({
  label: 'memory',
  async create() {
    let now = Date.UTC(2026, 10, 23, 12);
    const backend = createMemoryBackend({ now: () => now });
    return {
      backend,
      now: () => now,
      advance: async (ms: number) => {
        now += ms;
      },
      slackMs: 0,
      virtualTime: true,
      close: () => backend.close(),
    };
  },
});
