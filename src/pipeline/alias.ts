/**
 * Stage: a tenant's model alias becomes the model it names, before authorization (the target is
 * what must be allowed) and before routing. `ctx.requestedModel` keeps what the client asked for.
 * One map lookup, only for tenants that have a catalogue of their own.
 */
import { resolveAlias } from '../routing/tenant-deployments.js';
import type { Registry } from '../tenancy/snapshot.js';
import type { RequestContext, Stage } from './context.js';

export function resolveModelAlias(registry: Registry): Stage {
  return function aliasStage(ctx: RequestContext): void {
    const tenant = ctx.tenant;
    if (tenant === undefined) throw new Error('alias ran before authenticate');
    const asked = ctx.endpoint.op === 'models.get' ? ctx.endpoint.model : ctx.model;
    if (asked === undefined) return;
    const model = resolveAlias(registry.current, tenant.id, asked);
    if (model === asked) return;
    ctx.requestedModel = asked;
    ctx.model = model;
  };
}
