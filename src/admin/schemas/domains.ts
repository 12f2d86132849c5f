/** Custom domain bodies and views. */
import { z } from 'zod';
import type { ManagedDomain } from '../../store/index.js';
import { challengeRecord } from '../services/domains.js';
import { hostName, iso, isoOut } from './common.js';

export const createDomainBody = z.strictObject({ domain: hostName });

export const domainView = z.object({
  object: z.literal('domain'),
  domain: z.string(),
  status: z.enum(['pending', 'verified']).describe('pending: routes nothing until the TXT record is published and verified'),
  verification: z
    .object({ type: z.literal('TXT'), name: z.string(), value: z.string() })
    .nullable()
    .describe('the DNS record that proves ownership; null once verified'),
  verified_at: isoOut.nullable(),
  created_at: isoOut,
});

export function presentDomain(d: ManagedDomain): z.output<typeof domainView> {
  return {
    object: 'domain',
    domain: d.domain,
    status: d.verifiedAt === null ? 'pending' : 'verified',
    verification: d.verifiedAt === null && d.challenge !== null ? challengeRecord(d.domain, d.challenge) : null,
    verified_at: d.verifiedAt === null ? null : iso(d.verifiedAt),
    created_at: iso(d.createdAt),
  };
}
