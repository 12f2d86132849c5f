/**
 * The stores a repository test runs against: embedded PGlite always, PostgreSQL when reachable
 * (services.ts decides: a visible skip on a developer machine, a failure in CI).
 */
import type { Store } from '../../src/store/index.js';
import { openPgliteTestStore, openPostgresTestStore } from '../../src/store/testing.js';
import { POSTGRES_URL, postgresAvailable } from './services.js';

export interface OpenedStore {
  store: Store;
  /** Closes the store; a PostgreSQL test database is dropped. */
  close(): Promise<void>;
}

export interface StoreFactory {
  label: 'PGlite' | 'PostgreSQL';
  skip: boolean;
  open(): Promise<OpenedStore>;
}

export async function bothStores(): Promise<StoreFactory[]> {
  const pgAvailable = await postgresAvailable();
  return [
    {
      label: 'PGlite',
      skip: false,
      async open() {
        const store = await openPgliteTestStore();
        return { store, close: () => store.close() };
      },
    },
    {
      label: 'PostgreSQL',
      skip: !pgAvailable,
      async open() {
        const { store, drop } = await openPostgresTestStore(POSTGRES_URL);
        return { store, close: drop };
      },
    },
  ];
}
