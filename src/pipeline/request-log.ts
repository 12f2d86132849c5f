/**
 * Stages of the per-tenant request log (src/logs/, DESIGN §13 "Request logs").
 *
 * `logRequest` runs right after metering: for a tenant whose policy logs requests (one map
 * lookup; everyone else's requests do nothing more) it notes what to keep on the context and
 * registers the log's shared finisher, which queues the entry once the response is over, so
 * refusals are logged with their status too. A client opts out per request with
 * `x-gatehouse-log: off` (checked for every tenant, so a misspelt opt-out is a 400 everywhere,
 * never silently ignored). `logCapture` runs after the provider (and the cache fill) and, when the
 * tenant logs content, taps the upstream body so its first bytes are kept as they pass. A
 * response-cache hit ends the pipeline before it: such an entry has the request but no response.
 */
import { GatewayError } from '../errors.js';
import { tightestRule } from '../limits/compose.js';
import { newCapture, tapBody } from '../logs/capture.js';
import type { RequestLogs } from '../logs/index.js';
import type { Tenant } from '../tenancy/types.js';
import { addFinisher, type Stage } from './context.js';

export const LOG_HEADER = 'x-gatehouse-log';

/** The tightest log_bytes limit of the tenant, if any (a storage quota: tenant-wide). */
export function logQuotaOf(tenant: Tenant): number | undefined {
  return tightestRule(tenant.limits?.rules ?? [], 'log_bytes')?.limit;
}

/** True when the client opted out; 'on' (the default) and absence are false; anything else is refused. */
export function optedOut(value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  const v = typeof value === 'string' ? value.trim().toLowerCase() : '';
  if (v === 'off') return true;
  if (v === 'on') return false;
  throw new GatewayError('invalid_request', `The ${LOG_HEADER} header must be "on" or "off".`, { param: LOG_HEADER });
}

export function logRequest(logs: Pick<RequestLogs, 'policies' | 'writer' | 'finish'>): Stage {
  const finish = logs.finish;
  return function logRequestStage(ctx): void {
    const off = optedOut(ctx.headers[LOG_HEADER]);
    const tenant = ctx.tenant;
    if (tenant === undefined) return;
    const policy = logs.policies.peek(tenant.id);
    if (policy === undefined || !policy.enabled) return;
    if (off) {
      logs.writer.count('opted_out');
      return;
    }
    ctx.requestLog = { content: policy.content, quotaBytes: logQuotaOf(tenant) };
    addFinisher(ctx, finish);
  };
}

export function logCapture(maxCaptureBytes: number): Stage {
  return function logCaptureStage(ctx): void {
    const capture = ctx.requestLog;
    const upstream = ctx.upstream;
    if (capture === undefined || !capture.content || upstream === undefined) return;
    const kept = newCapture();
    capture.response = kept;
    ctx.upstream = { ...upstream, body: tapBody(upstream.body, maxCaptureBytes, kept) };
  };
}
