/** Stored request logs: list filters, metadata and content views. */
import { z } from 'zod';
import type { LogContent } from '../../logs/content.js';
import type { RequestLogMeta } from '../../store/index.js';
import { pageQuery } from '../http/cursor.js';
import { iso, isoOut, timestamp, uuid } from './common.js';

/** One status (429) or a class (4xx). */
const statusFilter = z
  .string()
  .regex(/^([1-5]xx|[1-5][0-9]{2})$/, 'must be a status such as 429 or a class such as 4xx')
  .describe('One status (429) or a class (2xx, 4xx, 5xx).');

export const requestLogsQuery = z.strictObject({
  from: timestamp.optional().describe('Entries of requests that arrived at or after this time.'),
  to: timestamp.optional().describe('Entries of requests that arrived strictly before this time.'),
  key_id: uuid.optional().describe('Only requests made with this API key.'),
  model: z.string().min(1).max(256).optional().describe('Only requests served for this model.'),
  status: statusFilter.optional(),
  ...pageQuery,
});

/** The inclusive range a status filter names. */
export function statusRange(s: string | undefined): { min: number; max: number } | null {
  if (s === undefined) return null;
  if (s.endsWith('xx')) {
    const base = Number(s[0]) * 100;
    return { min: base, max: base + 99 };
  }
  const n = Number(s);
  return { min: n, max: n };
}

export const requestLogView = z.object({
  object: z.literal('request_log'),
  id: z.uuid().describe('The entry; GET .../logs/{id} reads it.'),
  request_id: z.string().describe("X-Request-ID of the request (the client's when it sent one: it may repeat)."),
  occurred_at: isoOut.describe('When the request arrived.'),
  key_id: z.uuid().nullable(),
  team_id: z.uuid().nullable(),
  end_user: z.string().nullable().describe('The `user` field or X-Gatehouse-User.'),
  operation: z.string().nullable(),
  model: z.string(),
  deployment_id: z.string().nullable(),
  status: z.number().int().describe('The status the client got.'),
  latency_ms: z.number().int(),
  input_tokens: z.number().int().nullable().describe('As the provider reported them; null: not reported.'),
  output_tokens: z.number().int().nullable(),
  streamed: z.boolean(),
  client_aborted: z.boolean(),
  cache_hit: z.boolean(),
  has_content: z.boolean().describe('The request and response were stored (the tenant logs content).'),
  content_truncated: z.boolean().describe('Content was cut to requestLogs.maxEntryBytes, or the response did not complete.'),
  bytes: z.number().int().describe('What the entry counts against the log_bytes quota.'),
});

export function presentRequestLog(m: RequestLogMeta): z.output<typeof requestLogView> {
  return {
    object: 'request_log',
    id: m.id,
    request_id: m.requestId,
    occurred_at: iso(m.occurredAt),
    key_id: m.keyId,
    team_id: m.teamId,
    end_user: m.endUser,
    operation: m.operation,
    model: m.model,
    deployment_id: m.deploymentId,
    status: m.status,
    latency_ms: m.latencyMs,
    input_tokens: m.inputTokens,
    output_tokens: m.outputTokens,
    streamed: m.streamed,
    client_aborted: m.clientAborted,
    cache_hit: m.cacheHit,
    has_content: m.hasContent,
    content_truncated: m.contentTruncated,
    bytes: m.bytes,
  };
}

export const requestLogDetailView = requestLogView.extend({
  content_status: z
    .enum(['none', 'available', 'unreadable'])
    .describe("none: content was not logged; unreadable: the tenant's data key that sealed it was destroyed (crypto-shredded)."),
  content: z
    .object({
      request: z.unknown().describe('The request body (the canonical chat/completions/embeddings body); a string when cut.'),
      request_truncated: z.boolean(),
      response: z.unknown().describe('The JSON answer, or for a stream the answer its chunks add up to; a string when cut or not JSON; null: none.'),
      response_truncated: z.boolean(),
    })
    .nullable(),
});

/** Text that was kept whole is shown as the JSON it is; a cut (or non-JSON) text as a string. */
function shown(text: string | null, truncated: boolean): unknown {
  if (text === null || truncated) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export function presentRequestLogDetail(
  m: RequestLogMeta,
  content: LogContent | 'unreadable' | null,
): z.output<typeof requestLogDetailView> {
  const base = presentRequestLog(m);
  if (content === null) return { ...base, content_status: 'none', content: null };
  if (content === 'unreadable') return { ...base, content_status: 'unreadable', content: null };
  return {
    ...base,
    content_status: 'available',
    content: {
      request: shown(content.request, content.request_truncated),
      request_truncated: content.request_truncated,
      response: shown(content.response, content.response_truncated),
      response_truncated: content.response_truncated,
    },
  };
}
