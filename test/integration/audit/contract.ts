/** The audit contract, run against every store implementation (DESIGN §11.8). */
import { afterAll, describe } from 'vitest';
import type { StoreFactory, StoreHandle } from '../store/factory.js';
import { accessContract } from './access.contract.js';
import { chainContract } from './chain.contract.js';
import { headsContract } from './heads.contract.js';
import { queueContract } from './queue.contract.js';
import { readContract } from './read.contract.js';

export function auditContract(factory: StoreFactory): void {
  describe(`audit contract [${factory.label}]`, () => {
    // One migrated database for all three suites (opening one costs ~1 s on PGlite); every test
    // makes its own tenants, so they cannot see each other's chains.
    let shared: Promise<StoreHandle> | undefined;
    const sharedFactory: StoreFactory = {
      label: factory.label,
      async open() {
        shared ??= factory.open();
        return { store: (await shared).store, close: async () => {} };
      },
    };
    afterAll(async () => (await shared)?.close());

    chainContract(sharedFactory);
    headsContract(sharedFactory);
    accessContract(sharedFactory);
    readContract(sharedFactory);
    queueContract(sharedFactory);
  });
}
