/** Custom domain bodies and views. */
import { z } from 'zod';
import type { ManagedDomain } from '../../store/index.js';
import { hostName, iso, isoOut } from './common.js';

export const createDomainBody = z.strictObject({ domain: hostName });

export const domainView = z.object({ object: z.literal('domain'), domain: z.string(), created_at: isoOut });

export function presentDomain(d: ManagedDomain): z.output<typeof domainView> {
  return { object: 'domain', domain: d.domain, created_at: iso(d.createdAt) };
}
