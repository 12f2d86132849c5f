/**
 * Shared by every layer (server, pipeline, domain), so it lives at the root of src/.
 * The one error catalogue. Every error a client can see has a stable code here, with the HTTP
 * status and OpenAI error `type` that make the official SDKs raise their typed errors
 * (AuthenticationError for 401, PermissionDeniedError for 403, ...). Messages of catalogued
 * errors are safe to show; anything else is rendered as a generic internal error.
 */
export const ERRORS = {
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_utf8: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  missing_model: { status: 400, type: 'invalid_request_error' },
  unsupported_operation: { status: 400, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  missing_api_key: { status: 401, type: 'authentication_error' },
  expired_api_key: { status: 401, type: 'authentication_error' },
  tenant_mismatch: { status: 403, type: 'permission_denied_error' },
  tenant_suspended: { status: 403, type: 'permission_denied_error' },
  insufficient_scope: { status: 403, type: 'permission_denied_error' },
  ip_not_allowed: { status: 403, type: 'permission_denied_error' },
  /** Admin API: creating the object would exceed the tenant's `config_objects` storage quota. */
  storage_quota_exceeded: { status: 403, type: 'permission_denied_error' },
  /** Admin API: the caller's role does not grant this action (DESIGN §3). */
  forbidden: { status: 403, type: 'permission_denied_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  /** Admin API: a resource with this name already exists, or the change contradicts its state. */
  conflict: { status: 409, type: 'invalid_request_error' },
  /** Admin API: closing a tenant's billing period that ended before the tenant was created. */
  before_creation: { status: 409, type: 'invalid_request_error' },
  /** Admin API: an Idempotency-Key was reused with a different request. */
  idempotency_key_reused: { status: 409, type: 'invalid_request_error' },
  /** Admin API: If-Match did not match the resource's current ETag (RFC 9110 §13.1.1). */
  precondition_failed: { status: 412, type: 'invalid_request_error' },
  payload_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  /** The request (headers or body) did not arrive within the server's time limit. */
  request_timeout: { status: 408, type: 'invalid_request_error' },
  /** An `Expect` header other than 100-continue (RFC 9110 §10.1.1). */
  expectation_failed: { status: 417, type: 'invalid_request_error' },
  /** Admin API: a change to a mutable resource without If-Match (RFC 6585 §3). */
  precondition_required: { status: 428, type: 'invalid_request_error' },
  header_too_large: { status: 431, type: 'invalid_request_error' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  /** A calendar quota (per day/month) of requests or tokens is used up until its reset. */
  quota_exceeded: { status: 429, type: 'rate_limit_error' },
  /** A spend budget is used up; OpenAI's type for exhausted credit, so SDKs treat it alike. */
  budget_exceeded: { status: 429, type: 'insufficient_quota' },
  /** An anomaly with the `throttle` action is open: the tenant is admitted at a reduced rate. */
  anomaly_throttled: { status: 429, type: 'rate_limit_error' },
  internal_error: { status: 500, type: 'server_error' },
  /** A route whose backing component is not part of this build yet. */
  not_implemented: { status: 501, type: 'server_error' },
  upstream_error: { status: 502, type: 'upstream_error' },
  /**
   * A stream ended by the gateway: the upstream generated past the output tokens reserved for
   * the request (it ignored max_tokens), sent as the stream's terminal error event.
   */
  output_limit_exceeded: { status: 502, type: 'upstream_error' },
  upstream_unavailable: { status: 503, type: 'server_error' },
  shutting_down: { status: 503, type: 'server_error' },
  /** The shared limits store (Redis) is unreachable and the deployment fails closed (DESIGN §4). */
  limits_unavailable: { status: 503, type: 'server_error' },
  /** The usage spool is full (the store has been unreachable for long): no request may go unmetered. */
  metering_unavailable: { status: 503, type: 'server_error' },
  upstream_timeout: { status: 504, type: 'timeout_error' },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * Shared by every layer (server, pipeline, domain), so it lives at the root of src/. A client-facing failure: thrown by pipeline stages, rendered once by the server. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  /** Extra response headers (e.g. Retry-After). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { param?: string | null; headers?: Record<string, string>; status?: number; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = opts.status ?? ERRORS[code].status;
    this.type = ERRORS[code].type;
    this.param = opts.param ?? null;
    this.headers = opts.headers ?? {};
  }
}

export interface ErrorEnvelope {
  error: { message: string; type: string; code: string; param: string | null };
}

export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('internal_error', 'The gateway failed to process the request.', { cause: err });
}

export function errorEnvelope(err: GatewayError): ErrorEnvelope {
  return { error: { message: err.message, type: err.type, code: err.code, param: err.param } };
}
