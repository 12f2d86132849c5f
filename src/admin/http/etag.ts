/**
 * Optimistic concurrency (RFC 9110 §8.8.3, §13.1.1). A resource's ETag is its row version, which
 * a database trigger bumps on every real change (migration 0003), so no writer can change a row
 * without changing its ETag; rows of tables without a version use their updated_at stamp
 * (sealed-manage.ts). Strong comparison: versions are exact.
 */
import { GatewayError } from '../../errors.js';

export function etagOf(version: number | string): string {
  return `"v${version}"`;
}

/** The parsed If-Match header: `*`, or the list of entity tags it names. */
export type IfMatch = { any: true } | { any: false; tags: string[] };

const TAG = /^(W\/)?"[\x21\x23-\x7e]*"$/;

export function parseIfMatch(header: string | string[] | undefined): IfMatch | null {
  if (header === undefined) return null;
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text.trim() === '*') return { any: true };
  const tags = text
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  if (tags.length === 0 || tags.some((t) => !TAG.test(t))) {
    throw new GatewayError('invalid_request', 'The If-Match header is malformed: expected "*" or a list of quoted entity tags.', {
      param: 'If-Match',
    });
  }
  return { any: false, tags };
}

/**
 * Throws 412 unless `ifMatch` matches `version`. Weak tags never match (strong comparison, as
 * RFC 9110 §13.1.1 requires for If-Match).
 */
export function checkIfMatch(ifMatch: IfMatch | null, version: number | string, opts: { required: boolean }): void {
  if (ifMatch === null) {
    if (!opts.required) return;
    throw new GatewayError('precondition_required', 'This change requires an If-Match header with the ETag from a GET of the resource.', {
      param: 'If-Match',
    });
  }
  if (ifMatch.any) return;
  if (!ifMatch.tags.includes(etagOf(version))) {
    throw new GatewayError('precondition_failed', 'The resource has changed since you read it (ETag mismatch); GET it again and retry.', {
      param: 'If-Match',
    });
  }
}
