/**
 * The admin API's HTTP edge: route, authenticate, scope to a tenant, check the role, read and
 * validate input, run the route, render. Every failure is rendered here once, in the envelope.
 *
 * Order matters for what a caller can learn: authentication first (nothing for anonymous
 * callers), then the tenant scope (another tenant's resources are a 404 before any role check,
 * so a 403 never confirms that they exist), then the role, then the body.
 */
import { promises as dnsPromises } from 'node:dns';
import { compileOutboundPolicy, type OutboundPolicy, type Resolver } from '../routing/ssrf.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AuditQueue } from '../audit/index.js';
import type { AuditHeadSigner } from '../crypto/audit-head-key.js';
import type { ForecastInputs } from '../billing/alerts/job.js';
import { GatewayError } from '../errors.js';
import { bearer, createAdminAuthenticator, type AdminAuthOutcome } from '../identity/admin-auth.js';
import type { AdminJwtSources } from '../identity/admin-jwt.js';
import { adminKeyPrefix } from '../identity/admin-keys.js';
import { adminKeysRepo, sqlState, StoreClosedError, type FieldSealer, type Store } from '../store/index.js';
import { sendError, sendJson } from '../server/respond.js';
import { auditAdminLoginFailure } from './audit-hook.js';
import type { Actor, AdminEnv, TenantScope } from './context.js';
import { readJsonBody, refuseBody } from './http/body.js';
import { createLoginLimiter, type LoginLimitOptions } from './http/login-limit.js';
import { parseIfMatch } from './http/etag.js';
import { allows } from './permissions.js';
import { conflict } from './problems.js';
import type { AdminResult, AdminRoute, IdempotencyRequest } from './route.js';
import { ADMIN_BASE, createAdminRouter } from './router.js';
import { ADMIN_ROUTES } from './routes/index.js';
import { resolveTenantScope } from './scope.js';
import { requestHash } from './tx.js';

export interface AdminHandlerOptions {
  store: Store;
  pepper: Buffer;
  /** Peppers of previous master keys, during a master-key rotation (see admin-auth.ts). */
  previousPeppers?: readonly Buffer[];
  /** tenantSealer(the process keyring): write-only secrets (provider credentials, webhooks). */
  sealer: FieldSealer;
  /** Signs the audit heads the API hands out (derived from the master key, src/crypto/audit-head-key.ts). */
  auditHeadSigner: AuditHeadSigner;
  /** Rules for addresses tenants set (security.outbound); everything non-public refused by default. */
  outbound?: OutboundPolicy;
  /** Resolves host names for the save-time address check (tests inject one). */
  resolve?: Resolver;
  logger: Logger;
  /** GATEHOUSE_ADMIN_KEY; undefined: only stored admin keys authenticate. */
  bootstrapKey: string | undefined;
  /** After each committed change in a tenant: make the data plane's snapshot follow it. */
  onChange(tenantId: string): Promise<void>;
  /** After each committed change to the plan catalogue: the same for every tenant on the plan. */
  onPlansChange(): Promise<void>;
  /** After a price-book version was added: this gateway prices requests by it (others poll). */
  onPricesChange?: () => Promise<void>;
  now?: () => Date;
  routes?: readonly AdminRoute[];
  /** Where refused logins are audited (asynchronously); not audited without one. */
  audit?: Pick<AuditQueue, 'enqueue'>;
  /** Failed-login limits per client address and key prefix (defaults: 10 per minute). */
  loginLimit?: LoginLimitOptions;
  /** Sign-in with bearer JWTs of tenant and platform identity providers; absent: admin keys only. */
  jwt?: AdminJwtSources;
  /** DNS TXT lookups for domain ownership proofs; the system resolver by default. */
  resolveTxt?: (name: string) => Promise<string[][]>;
  /** alerts.retentionDays (the default a tenant's alert settings may override). */
  alertRetentionDays?: number;
  /** The limit counters (reservations) and compute-unit weights budget forecasts read. */
  forecastInputs?: ForecastInputs;
}

/** `clientAddress`: as the server decided it (trusted proxies); the socket's peer by default. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse, requestId: string, clientAddress?: string) => void;

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function parseQuery(search: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(search)) {
    if (Object.hasOwn(out, k)) throw new GatewayError('invalid_request', `The query parameter "${k}" is given more than once.`, { param: k });
    out[k] = v;
  }
  return out;
}

/** The public prefix the caller presents, for the login limiter: '' for anything not an admin key. */
function presentedPrefix(authorization: string | string[] | undefined): string {
  const credential = bearer(authorization);
  return typeof credential === 'string' ? (adminKeyPrefix(credential) ?? '') : '';
}

function tooManyFailures(retryAfter: number): GatewayError {
  return new GatewayError('rate_limit_exceeded', `Too many failed authentications from this address; retry in ${retryAfter} s.`, {
    headers: { 'retry-after': String(retryAfter) },
  });
}

function authFailure(outcome: Exclude<AdminAuthOutcome, { ok: true }>): GatewayError {
  switch (outcome.reason) {
    case 'missing':
      return new GatewayError('missing_api_key', 'You didn\'t provide an admin key. Send it as "Authorization: Bearer <admin key>".');
    case 'expired':
      return new GatewayError('expired_api_key', outcome.failure.reason.startsWith('jwt_') ? 'The sign-in token has expired.' : 'The admin key has expired.');
    default:
      if (outcome.failure.reason === 'jwt_no_role') {
        return new GatewayError('invalid_api_key', 'The sign-in token carries no Gatehouse admin role in its roles claim.');
      }
      return new GatewayError(
        'invalid_api_key',
        outcome.failure.reason.startsWith('jwt_') ? 'The sign-in token was not accepted.' : 'Incorrect admin key provided.',
      );
  }
}

/** Store and unexpected failures as the client sees them; details go to the log only. */
function toAdminError(err: unknown, logger: Logger, requestId: string): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof StoreClosedError) return new GatewayError('shutting_down', 'The gateway is shutting down; retry.');
  switch (sqlState(err)) {
    case '23505':
      return conflict('A resource with these values already exists.');
    case '23503':
      return new GatewayError('invalid_request', 'The request refers to something that does not exist.');
    case '40001':
    case '40P01':
      return conflict('A concurrent change got in the way; retry.');
    case '23514':
    // Index row too large: a value long in bytes (UTF-8) though within its character limit.
    case '54000':
      return new GatewayError('invalid_request', 'The request contains a value the store refuses.');
  }
  // Class 22, data exception: a value the column cannot hold (NUL in text or jsonb, out of range,
  // malformed). The input's, not the gateway's: a 400, not a 500.
  if (sqlState(err)?.startsWith('22') === true) {
    logger.info({ reqId: requestId, sqlState: sqlState(err) }, 'admin: the store refused a value of the request');
    return new GatewayError('invalid_request', 'The request contains a value the store refuses.');
  }
  logger.error({ reqId: requestId, err }, 'admin: request failed');
  return new GatewayError('internal_error', 'The gateway failed to process the request.', { cause: err });
}

/** The request as the idempotency hash sees it: the tenant by id, however it was named. */
function canonicalPath(route: AdminRoute, params: Record<string, string>, scope: TenantScope | null): string {
  return route.path.replace(/\{([a-z_]+)\}/g, (_m, name: string) => (name === 'tenant' && scope !== null ? scope.id : (params[name] ?? '')));
}

/** Resolves once `res` can take more (or is gone): write() returned false. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Writes a streamed body chunk by chunk, waiting for the client when its buffer is full, and
 * stops reading (which ends the producer) when the client leaves. A failure after the status
 * line was sent propagates: the caller's error path then cuts the response.
 */
async function respondStream(res: ServerResponse, status: number, headers: Record<string, string>, chunks: AsyncIterable<string>): Promise<void> {
  const it = chunks[Symbol.asyncIterator]();
  try {
    let next = await it.next();
    headers['content-type'] = headers['content-type'] ?? 'application/octet-stream';
    res.writeHead(status, headers);
    while (next.done !== true) {
      if (res.destroyed) return;
      // destroyed is set at once, 'close' comes later: checked, no wait can miss its wake-up.
      if (!res.write(next.value) && !res.destroyed) await drained(res);
      next = await it.next();
    }
    res.end();
  } finally {
    await it.return?.();
  }
}

async function respond(res: ServerResponse, result: AdminResult, scope: TenantScope | null): Promise<void> {
  const headers: Record<string, string> = {};
  if (result.etag !== undefined) headers.etag = result.etag;
  if (result.location !== undefined) headers.location = result.location;
  if (result.replayed === true) headers['idempotent-replayed'] = 'true';
  if (scope !== null) headers['x-tenant-id'] = scope.slug;
  if (result.stream !== undefined) {
    headers['content-type'] = result.stream.contentType;
    await respondStream(res, result.status, headers, result.stream.chunks);
  } else if (result.body === undefined) {
    res.writeHead(result.status, headers);
    res.end();
  } else {
    sendJson(res, result.status, result.body, headers);
  }
}

export function createAdminHandler(opts: AdminHandlerOptions): AdminHandler {
  const router = createAdminRouter(opts.routes ?? ADMIN_ROUTES);
  const now = opts.now ?? (() => new Date());
  const limiter = createLoginLimiter(opts.loginLimit);
  const env: AdminEnv = {
    store: opts.store,
    pepper: opts.pepper,
    sealer: opts.sealer,
    auditHeadSigner: opts.auditHeadSigner,
    outbound: opts.outbound ?? compileOutboundPolicy(),
    ...(opts.resolve !== undefined ? { resolve: opts.resolve } : {}),
    logger: opts.logger,
    now,
    onChange: opts.onChange,
    onPlansChange: opts.onPlansChange,
    onPricesChange: opts.onPricesChange ?? (async () => {}),
    resolveTxt: opts.resolveTxt ?? ((name) => dnsPromises.resolveTxt(name)),
    ...(opts.alertRetentionDays !== undefined ? { alertRetentionDays: opts.alertRetentionDays } : {}),
    ...(opts.forecastInputs !== undefined ? { forecastInputs: opts.forecastInputs } : {}),
  };
  const authenticate = createAdminAuthenticator({
    store: opts.store,
    pepper: opts.pepper,
    previousPeppers: opts.previousPeppers ?? [],
    bootstrapKey: opts.bootstrapKey,
    ...(opts.jwt === undefined ? {} : { jwt: opts.jwt }),
    now,
    onUse(scopeId, keyId) {
      // Off the response path; a lost update only makes last_used_at older.
      opts.store.withTenant(scopeId, (tx) => adminKeysRepo.touch(tx, keyId)).catch((err: unknown) => {
        opts.logger.debug({ err }, 'admin: recording key use failed');
      });
    },
  });

  async function serve(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    clientAddress: string | undefined,
    scopeOut: { scope: TenantScope | null },
  ): Promise<void> {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = (q === -1 ? url : url.slice(0, q)).slice(ADMIN_BASE.length);
    const { route, params } = router.match(method, path);
    const rawQuery = parseQuery(q === -1 ? '' : url.slice(q + 1));
    const base = { params, tenant: null, ifMatch: null, idempotency: null, env, accept: req.headers.accept };
    if (route.permission === null) {
      await respond(res, await route.invoke({ ...base, actor: null, rawQuery, rawBody: undefined }), null);
      return;
    }

    const sourceIp = clientAddress ?? req.socket.remoteAddress ?? null;
    const prefix = presentedPrefix(req.headers.authorization);
    const wait = limiter.retryAfter(sourceIp ?? '', prefix);
    if (wait > 0) {
      if (opts.audit) auditAdminLoginFailure(opts.audit, { reason: 'rate_limited', scopeId: null, keyId: null, prefix: prefix || null }, sourceIp, requestId);
      throw tooManyFailures(wait);
    }
    const outcome = await authenticate(req.headers.authorization);
    if (!outcome.ok) {
      // No credential at all is not a login attempt: neither counted nor audited.
      if (outcome.reason !== 'missing') {
        limiter.fail(sourceIp ?? '', prefix);
        if (opts.audit) auditAdminLoginFailure(opts.audit, outcome.failure, sourceIp, requestId);
      }
      throw authFailure(outcome);
    }
    const principal = outcome.principal;
    const actor: Actor = { principal, requestId, sourceIp };

    let scope: TenantScope | null = null;
    if (params.tenant !== undefined) {
      scope = await resolveTenantScope(opts.store, principal, params.tenant);
      scopeOut.scope = scope;
    }
    if (!allows(principal.role, route.permission)) {
      throw new GatewayError('forbidden', `The role ${principal.role} may not ${route.summary.charAt(0).toLowerCase()}${route.summary.slice(1)}.`);
    }
    if (scope?.deleting === true && method !== 'GET' && route.permission !== 'tenants.lifecycle' && route.permission !== 'tenants.settings') {
      throw conflict('The tenant is marked for deletion; its resources can no longer be changed.');
    }

    const ifMatch = route.ifMatch === undefined ? null : parseIfMatch(req.headers['if-match']);
    let rawBody: Record<string, unknown> | undefined;
    if (route.bodySchema !== undefined) rawBody = await readJsonBody(req, { optional: route.bodyOptional });
    else await refuseBody(req);

    let idempotency: IdempotencyRequest | null = null;
    const idemHeader = req.headers['idempotency-key'];
    if (route.idempotent && idemHeader !== undefined) {
      if (typeof idemHeader !== 'string' || !IDEMPOTENCY_KEY.test(idemHeader)) {
        throw new GatewayError('invalid_request', 'Idempotency-Key must be 1 to 255 printable ASCII characters.', { param: 'Idempotency-Key' });
      }
      idempotency = { key: idemHeader, requestHash: requestHash(opts.pepper, method, canonicalPath(route, params, scope), rawBody) };
    }

    const result = await route.invoke({ ...base, tenant: scope, actor, ifMatch, idempotency, rawQuery, rawBody });
    await respond(res, result, scope);
  }

  return function handleAdmin(req, res, requestId, clientAddress) {
    // Admin responses may carry one-time secrets and always carry tenant configuration.
    res.setHeader('cache-control', 'no-store');
    const scopeOut: { scope: TenantScope | null } = { scope: null };
    serve(req, res, requestId, clientAddress, scopeOut).catch((err: unknown) => {
      if (res.destroyed) return;
      const failure = toAdminError(err, opts.logger, requestId);
      if (failure.status < 500) opts.logger.debug({ reqId: requestId, code: failure.code, status: failure.status }, failure.message);
      if (scopeOut.scope !== null && !res.headersSent) res.setHeader('x-tenant-id', scopeOut.scope.slug);
      sendError(res, failure);
    });
  };
}
