/** The tenant-encryption contract, run against every store implementation (DESIGN §11.8). */
import { afterAll, describe } from 'vitest';
import { envelopeContract } from './envelope.contract.js';
import type { StoreFactory, StoreHandle } from './fixtures.js';
import { grantsContract } from './grants.contract.js';
import { rotationContract } from './rotation.contract.js';
import { shreddingContract } from './shredding.contract.js';

export function cryptoContract(factory: StoreFactory): void {
  describe(`tenant encryption contract [${factory.label}]`, () => {
    // One database for the suites that only add their own tenants; the master-key rotation
    // walks every tenant and opens its own (rotationContract).
    let shared: Promise<StoreHandle> | undefined;
    const sharedFactory: StoreFactory = {
      label: factory.label,
      async open() {
        shared ??= factory.open();
        return { store: (await shared).store, close: async () => {} };
      },
    };
    afterAll(async () => (await shared)?.close());

    envelopeContract(sharedFactory);
    grantsContract(sharedFactory);
    shreddingContract(sharedFactory);
    rotationContract(factory);
  });
}
