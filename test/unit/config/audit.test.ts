/** `audit.headExport` and `tenantDeletion` in the configuration file. */
import { describe, expect, it } from 'vitest';
import { BASE, fixture } from './helpers.js';

describe('audit head export and tenant deletion settings', () => {
  it('are off by default', async () => {
    const config = await (await fixture(BASE)).load();
    expect(config.audit).toEqual({});
    expect(config.tenantDeletion).toEqual({ purgeUnbilledUsage: false });
  });

  it('load with the interval defaulted', async () => {
    const config = await (await fixture(`${BASE}
audit:
  headExport: { dir: /mnt/worm/gatehouse }
tenantDeletion: { purgeUnbilledUsage: true }
`)).load();
    expect(config.audit.headExport).toEqual({ dir: '/mnt/worm/gatehouse', intervalSeconds: 300 });
    expect(config.tenantDeletion.purgeUnbilledUsage).toBe(true);
  });

  it('refuse a too short interval and unknown keys, at their path', async () => {
    const lines = await (await fixture(`${BASE}
audit:
  headExport: { dir: heads, intervalSeconds: 1, every: 5 }
`)).fail();
    expect(lines.join('\n')).toMatch(/audit\.headExport/);
  });
});
