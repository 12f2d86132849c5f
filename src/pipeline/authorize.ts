/**
 * Stage 4: may this principal do this operation on this model? A model the tenant may not use
 * answers exactly like a model that does not exist (404), so a tenant never learns of another
 * tenant's models.
 */
import type { AuthFailureHook } from '../audit/auth-failures.js';
import { keyPrefix } from '../crypto/keys.js';
import { GatewayError } from '../errors.js';
import { modelAllowed } from '../tenancy/snapshot.js';
import type { Principal, Scope } from '../tenancy/types.js';
import type { RequestContext, Stage } from './context.js';

type ScopedOp = 'chat' | 'completions' | 'embeddings' | 'predict' | 'models.list' | 'models.get';

function hasScope(principal: Principal, op: ScopedOp): boolean {
  const scopes: readonly Scope[] = principal.scopes;
  if (op === 'models.list' || op === 'models.get') return scopes.includes('models:read');
  if (scopes.includes('inference')) return true;
  // predict is chat or embeddings depending on the model; route re-checks the resolved operation.
  if (op === 'predict') return scopes.includes('chat') || scopes.includes('embeddings') || scopes.includes('completions');
  return scopes.includes(op);
}

export function modelNotFound(model: string): GatewayError {
  return new GatewayError(
    'model_not_found',
    `The model \`${model}\` does not exist or you do not have access to it.`,
    { param: 'model' },
  );
}

export interface ScopeOptions {
  /** Told of each refusal for lack of scope (the tenant's audit log); failure path only. */
  onAuthFailure?: AuthFailureHook;
}

export function requireScope(ctx: RequestContext, principal: Principal, op: ScopedOp, hook?: AuthFailureHook): void {
  if (hasScope(principal, op)) return;
  const apiKey = principal.kind === 'api_key';
  hook?.({
    tenantId: principal.tenantId,
    credential: principal.kind,
    keyId: principal.keyId,
    keyPrefix: apiKey && ctx.credential !== undefined ? keyPrefix(ctx.credential) : null,
    reason: 'insufficient_scope',
    requestId: ctx.requestId,
    sourceIp: ctx.remoteAddress,
  });
  throw new GatewayError('insufficient_scope', `This API key is not allowed to call ${op}.`);
}

export function authorize(opts: ScopeOptions = {}): Stage {
  const hook = opts.onAuthFailure;
  return function authorizeStage(ctx: RequestContext): void {
    const { principal, tenant } = ctx;
    if (principal === undefined || tenant === undefined) {
      throw new Error('authorize ran before authenticate');
    }
    requireScope(ctx, principal, ctx.endpoint.op, hook);
    // ctx.model first: for models.get too it holds an alias's target once the alias stage ran.
    const model = ctx.model ?? (ctx.endpoint.op === 'models.get' ? ctx.endpoint.model : undefined);
    if (model !== undefined && !modelAllowed(tenant, principal.allowedModels, model)) {
      throw modelNotFound(model);
    }
  };
}
