/** The whole store contract, run against every implementation (DESIGN §11.8). */
import { afterAll, describe } from 'vitest';
import { catalogContract } from './catalog.contract.js';
import type { StoreFactory, StoreHandle } from './factory.js';
import { limitsContract } from './limits.contract.js';
import { migrationsContract } from './migrations.contract.js';
import { purgeContract } from './purge.contract.js';
import { reposContract } from './repos.contract.js';
import { rlsContract } from './rls.contract.js';
import { transactionsContract } from './transactions.contract.js';

export function storeContract(factory: StoreFactory): void {
  describe(`store contract [${factory.label}]`, () => {
    // Suites that only need "a migrated database" share one (opening a store costs ~1 s on
    // PGlite); each seeds its own tenants with random slugs. Suites that change the schema or
    // need a pool of one open their own.
    let shared: Promise<StoreHandle> | undefined;
    const sharedFactory: StoreFactory = {
      label: factory.label,
      async open() {
        shared ??= factory.open();
        return { store: (await shared).store, close: async () => {} };
      },
    };
    afterAll(async () => (await shared)?.close());

    rlsContract(sharedFactory);
    catalogContract(sharedFactory);
    reposContract(sharedFactory);
    limitsContract({ ...sharedFactory, openUnmigrated: factory.openUnmigrated?.bind(factory) });
    migrationsContract(sharedFactory, factory);
    transactionsContract(factory);
    purgeContract(factory);
  });
}
