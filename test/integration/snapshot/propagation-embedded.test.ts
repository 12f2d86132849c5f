/**
 * Embedded mode (PGlite in a data directory): one gateway, changes made through its own store
 * reach its hot path within a second over HTTP, through the same triggers and LISTEN as
 * PostgreSQL (in process here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantsRepo } from '../../../src/store/index.js';
import { DEMO_KEY, startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { createKey, MASTER_KEY_HEX, revokeKey, statusWith, waitFor } from './helpers.js';

describe('snapshot propagation [embedded PGlite, in process]', () => {
  let gw: TestGateway;
  let demo: string;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { GATEHOUSE_MASTER_KEY: MASTER_KEY_HEX, GATEHOUSE_LOG_LEVEL: 'info' } });
    const id = await gw.store.platform((tx) => tenantsRepo.findIdBySlug(tx, 'demo'));
    if (id === null) throw new Error('no demo tenant');
    demo = id;
  }, 120_000);
  afterAll(async () => gw?.stop());

  it('a new key is usable, and refused once revoked, each within one second', async () => {
    const { id, key } = await createKey(gw.store, demo, 'propagated');
    const accepted = await waitFor('the new key accepted', async () => (await statusWith(gw.url, key)) === 200, 3_000);
    expect(accepted).toBeLessThan(1_000);

    await revokeKey(gw.store, demo, id);
    const refused = await waitFor('the revoked key refused', async () => (await statusWith(gw.url, key)) === 401, 3_000);
    expect(refused).toBeLessThan(1_000);
    expect(await statusWith(gw.url, DEMO_KEY)).toBe(200);
  });

  it('suspending the tenant stops its keys within one second; resuming lets them back in', async () => {
    await gw.store.withTenant(demo, (tx) => tenantsRepo.update(tx, { status: 'suspended' }));
    expect(await waitFor('the suspension', async () => (await statusWith(gw.url, DEMO_KEY)) !== 200, 3_000)).toBeLessThan(1_000);
    await gw.store.withTenant(demo, (tx) => tenantsRepo.update(tx, { status: 'active' }));
    expect(await waitFor('the resumption', async () => (await statusWith(gw.url, DEMO_KEY)) === 200, 3_000)).toBeLessThan(1_000);
  });
});
