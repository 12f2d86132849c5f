import { describe, expect, it } from 'vitest';
import { logPolicy, storedLogSettings, tenantLogsSchema } from '../../../src/logs/settings.js';

describe('log settings and policy', () => {
  it('giving `logs` opts in; stored settings that are absent or malformed are off', () => {
    expect(tenantLogsSchema.parse({})).toEqual({ enabled: true, content: false });
    expect(storedLogSettings({})).toEqual({ enabled: false, content: false });
    expect(storedLogSettings({ logs: { enabled: 'yes' } })).toEqual({ enabled: false, content: false });
    expect(storedLogSettings({ logs: { enabled: true, content: true, retentionDays: 7 } })).toEqual({ enabled: true, content: true, retentionDays: 7 });
    expect(() => tenantLogsSchema.parse({ retentionDays: 0 })).toThrow();
  });

  it('the plan gates logging and caps retention', () => {
    const on = { enabled: true, content: true };
    expect(logPolicy(on, 30)).toEqual({ enabled: true, content: true, retentionDays: 30 });
    expect(logPolicy({ ...on, retentionDays: 7 }, 30)).toEqual({ enabled: true, content: true, retentionDays: 7 });
    expect(logPolicy({ ...on, retentionDays: 90 }, 30)).toEqual({ enabled: true, content: true, retentionDays: 30 });
    expect(logPolicy(on, 0)).toEqual({ enabled: false, content: false, retentionDays: 0 });
    // Off keeps its retention: entries already stored still expire on the tenant's terms.
    expect(logPolicy({ enabled: false, content: true, retentionDays: 7 }, 30)).toEqual({ enabled: false, content: false, retentionDays: 7 });
  });
});
