/**
 * Stored request logs (migration 0018): batched inserts by the background writer, the per-tenant
 * byte count the log_bytes quota reads, listing and reading for the admin API, and retention.
 * Content arrives sealed (src/crypto/envelope.ts): this file never sees a plaintext.
 */
import type { PlatformTx, TenantTx } from '../types.js';
import { toBuffer } from './convert.js';

/** One entry as the writer stores it. Times are epoch ms. */
export interface NewRequestLog {
  id: string;
  requestId: string;
  occurredAt: number;
  keyId: string | null;
  teamId: string | null;
  endUser: string | null;
  operation: string | null;
  model: string;
  deploymentId: string | null;
  status: number;
  latencyMs: number;
  inputTokens: number | null;
  outputTokens: number | null;
  streamed: boolean;
  clientAborted: boolean;
  cacheHit: boolean;
  /** Sealed content and the data key version that sealed it; null when content is not logged. */
  content: { ciphertext: Buffer; keyVersion: number } | null;
  contentTruncated: boolean;
  /** What the row counts against the tenant's log_bytes quota. */
  bytes: number;
}

/** An entry's metadata, as lists show it (never its content). */
export interface RequestLogMeta {
  id: string;
  requestId: string;
  occurredAt: Date;
  keyId: string | null;
  teamId: string | null;
  endUser: string | null;
  operation: string | null;
  model: string;
  deploymentId: string | null;
  status: number;
  latencyMs: number;
  inputTokens: number | null;
  outputTokens: number | null;
  streamed: boolean;
  clientAborted: boolean;
  cacheHit: boolean;
  hasContent: boolean;
  contentTruncated: boolean;
  bytes: number;
}

export interface RequestLogRecord extends RequestLogMeta {
  /** Sealed; null when content was not logged. */
  content: Buffer | null;
}

export interface RequestLogFilter {
  /** At or after. */
  from: Date | null;
  /** Strictly before. */
  to: Date | null;
  keyId: string | null;
  model: string | null;
  /** Inclusive status range (one status: min = max). */
  status: { min: number; max: number } | null;
  /** Entries strictly older than this one, in list order (newest first). */
  before: { occurredAt: Date; id: string } | null;
  limit: number;
}

export interface LogUsage {
  bytes: number;
  entries: number;
}

interface MetaRow {
  id: string;
  request_id: string;
  occurred_at: Date;
  key_id: string | null;
  team_id: string | null;
  end_user: string | null;
  operation: string | null;
  model: string;
  deployment_id: string | null;
  status: number;
  latency_ms: number;
  input_tokens: number | null;
  output_tokens: number | null;
  streamed: boolean;
  client_aborted: boolean;
  cache_hit: boolean;
  has_content: boolean;
  content_truncated: boolean;
  bytes: number;
}

const META_COLUMNS = `id, request_id, occurred_at, key_id, team_id, end_user, operation, model, deployment_id, status,
  latency_ms, input_tokens, output_tokens, streamed, client_aborted, cache_hit, content IS NOT NULL AS has_content,
  content_truncated, bytes`;

function toMeta(r: MetaRow): RequestLogMeta {
  return {
    id: r.id,
    requestId: r.request_id,
    occurredAt: r.occurred_at,
    keyId: r.key_id,
    teamId: r.team_id,
    endUser: r.end_user,
    operation: r.operation,
    model: r.model,
    deploymentId: r.deployment_id,
    status: Number(r.status),
    latencyMs: Number(r.latency_ms),
    inputTokens: r.input_tokens === null ? null : Number(r.input_tokens),
    outputTokens: r.output_tokens === null ? null : Number(r.output_tokens),
    streamed: r.streamed,
    clientAborted: r.client_aborted,
    cacheHit: r.cache_hit,
    hasContent: r.has_content,
    contentTruncated: r.content_truncated,
    bytes: Number(r.bytes),
  };
}

/**
 * The batch travels as one JSON parameter (json_to_recordset), as usage ingest does: one round
 * trip and one plan for any batch size. Ciphertexts travel base64-encoded.
 */
const INSERT_SQL = /* sql */ `
INSERT INTO request_logs (tenant_id, id, request_id, occurred_at, key_id, team_id, end_user, operation, model,
  deployment_id, status, latency_ms, input_tokens, output_tokens, streamed, client_aborted, cache_hit, content,
  key_version, content_truncated, bytes)
SELECT $1::uuid, id, request_id, occurred_at, key_id, team_id, end_user, operation, model, deployment_id, status,
  latency_ms, input_tokens, output_tokens, streamed, client_aborted, cache_hit, decode(content, 'base64'),
  key_version, content_truncated, bytes
FROM json_to_recordset($2::json) AS r (
  id uuid, request_id text, occurred_at timestamptz, key_id uuid, team_id uuid, end_user text, operation text,
  model text, deployment_id text, status smallint, latency_ms integer, input_tokens integer, output_tokens integer,
  streamed boolean, client_aborted boolean, cache_hit boolean, content text, key_version integer,
  content_truncated boolean, bytes integer)`;

export const requestLogsRepo = {
  /**
   * The tenant's stored bytes and entries, with its usage row locked until the transaction ends:
   * writers of one tenant (several replicas) take turns, so none can overshoot the quota.
   */
  async lockUsage(tx: TenantTx): Promise<LogUsage> {
    await tx.query('INSERT INTO request_log_usage (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING', [tx.tenantId]);
    const { rows } = await tx.query<{ bytes: string | number; entries: string | number }>(
      'SELECT bytes, entries FROM request_log_usage WHERE tenant_id = $1 FOR UPDATE',
      [tx.tenantId],
    );
    const r = rows[0];
    return r === undefined ? { bytes: 0, entries: 0 } : { bytes: Number(r.bytes), entries: Number(r.entries) };
  },

  async usage(tx: TenantTx): Promise<LogUsage> {
    const { rows } = await tx.query<{ bytes: string | number; entries: string | number }>(
      'SELECT bytes, entries FROM request_log_usage WHERE tenant_id = $1',
      [tx.tenantId],
    );
    const r = rows[0];
    return r === undefined ? { bytes: 0, entries: 0 } : { bytes: Number(r.bytes), entries: Number(r.entries) };
  },

  /** Adds to (or, negative, takes from) the tenant's usage; the row exists once lockUsage ran. */
  async addUsage(tx: TenantTx, delta: LogUsage): Promise<void> {
    await tx.query(
      `INSERT INTO request_log_usage (tenant_id, bytes, entries) VALUES ($1, greatest($2::bigint, 0), greatest($3::bigint, 0))
       ON CONFLICT (tenant_id) DO UPDATE SET bytes = greatest(request_log_usage.bytes + $2::bigint, 0),
                                            entries = greatest(request_log_usage.entries + $3::bigint, 0)`,
      [tx.tenantId, delta.bytes, delta.entries],
    );
  },

  async insert(tx: TenantTx, rows: readonly NewRequestLog[]): Promise<void> {
    if (rows.length === 0) return;
    const batch = rows.map((r) => ({
      id: r.id,
      request_id: r.requestId,
      occurred_at: new Date(r.occurredAt).toISOString(),
      key_id: r.keyId,
      team_id: r.teamId,
      end_user: r.endUser,
      operation: r.operation,
      model: r.model,
      deployment_id: r.deploymentId,
      status: r.status,
      latency_ms: r.latencyMs,
      input_tokens: r.inputTokens,
      output_tokens: r.outputTokens,
      streamed: r.streamed,
      client_aborted: r.clientAborted,
      cache_hit: r.cacheHit,
      content: r.content === null ? null : r.content.ciphertext.toString('base64'),
      key_version: r.content === null ? null : r.content.keyVersion,
      content_truncated: r.contentTruncated,
      bytes: r.bytes,
    }));
    await tx.query(INSERT_SQL, [tx.tenantId, JSON.stringify(batch)]);
  },

  /** Newest first; metadata only. */
  async list(tx: TenantTx, f: RequestLogFilter): Promise<RequestLogMeta[]> {
    const { rows } = await tx.query<MetaRow>(
      `SELECT ${META_COLUMNS} FROM request_logs
       WHERE tenant_id = $1
         AND ($2::timestamptz IS NULL OR occurred_at >= $2)
         AND ($3::timestamptz IS NULL OR occurred_at < $3)
         AND ($4::uuid IS NULL OR key_id = $4)
         AND ($5::text IS NULL OR model = $5)
         AND ($6::int IS NULL OR status BETWEEN $6 AND $7)
         AND ($8::timestamptz IS NULL OR (occurred_at, id) < ($8, $9::uuid))
       ORDER BY occurred_at DESC, id DESC
       LIMIT $10`,
      [
        tx.tenantId,
        f.from,
        f.to,
        f.keyId,
        f.model,
        f.status?.min ?? null,
        f.status?.max ?? null,
        f.before?.occurredAt ?? null,
        f.before?.id ?? null,
        f.limit,
      ],
    );
    return rows.map(toMeta);
  },

  /**
   * One entry with its sealed content: by row id, else the newest entry with that request id
   * (a client may send the same X-Request-ID twice; the list shows every row id).
   */
  async get(tx: TenantTx, ref: string): Promise<RequestLogRecord | null> {
    const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(ref);
    const { rows } = await tx.query<MetaRow & { content: Buffer | Uint8Array | null }>(
      `SELECT ${META_COLUMNS}, content FROM request_logs
       WHERE tenant_id = $1 AND (request_id = $2 OR ($3::uuid IS NOT NULL AND id = $3::uuid))
       ORDER BY (id = $3::uuid) IS TRUE DESC, occurred_at DESC, id DESC
       LIMIT 1`,
      [tx.tenantId, ref, isUuid ? ref : null],
    );
    const r = rows[0];
    if (r === undefined) return null;
    return { ...toMeta(r), content: r.content === null ? null : toBuffer(r.content) };
  },

  /**
   * Deletes up to `limit` entries older than `cutoff` and takes their bytes off the tenant's
   * usage, in the caller's transaction; returns what it deleted.
   */
  async deleteOlderThan(tx: TenantTx, cutoff: Date, limit: number): Promise<LogUsage> {
    const { rows } = await tx.query<{ entries: string | number; bytes: string | number }>(
      `WITH gone AS (
         DELETE FROM request_logs WHERE tenant_id = $1 AND id IN (
           SELECT id FROM request_logs WHERE tenant_id = $1 AND occurred_at < $2 ORDER BY occurred_at LIMIT $3)
         RETURNING bytes)
       SELECT count(*) AS entries, coalesce(sum(bytes), 0) AS bytes FROM gone`,
      [tx.tenantId, cutoff, limit],
    );
    const r = rows[0];
    const gone = { entries: Number(r?.entries ?? 0), bytes: Number(r?.bytes ?? 0) };
    if (gone.entries > 0) await requestLogsRepo.addUsage(tx, { bytes: -gone.bytes, entries: -gone.entries });
    return gone;
  },

  /** Tenants that hold (or held) request logs: whose transactions the retention job opens. */
  async tenantsWithLogs(tx: PlatformTx): Promise<string[]> {
    const { rows } = await tx.query<{ tenant_id: string }>('SELECT tenant_id FROM request_log_usage ORDER BY tenant_id');
    return rows.map((r) => r.tenant_id);
  },
};
