/** The model list and model object of the OpenAI API, limited to what the caller may use. */
import { deploymentsFor } from '../routing/tenant-deployments.js';
import { visibleModels, type Registry } from '../tenancy/snapshot.js';
import type { Deployment } from '../providers/types.js';
import { modelNotFound } from './authorize.js';
import type { RequestContext } from './context.js';

interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

/** `id` is the name the client uses (an alias lists under its own name). */
function modelObject(id: string, d: Deployment): ModelObject {
  return { id, object: 'model', created: d.created, owned_by: d.ownedBy };
}

export function renderModels(registry: Registry) {
  return function modelsResponse(ctx: RequestContext): ModelObject | { object: 'list'; data: ModelObject[] } {
    const { tenant, principal } = ctx;
    if (tenant === undefined || principal === undefined) throw new Error('models rendered before authenticate');
    const snapshot = registry.current;
    if (ctx.endpoint.op === 'models.get') {
      // ctx.model is the alias's target when the alias stage resolved one.
      const d = deploymentsFor(snapshot, tenant, ctx.model ?? ctx.endpoint.model)?.[0];
      if (d === undefined) throw modelNotFound(ctx.endpoint.model);
      return modelObject(ctx.endpoint.model, d);
    }
    const data = visibleModels(snapshot, tenant, principal.allowedModels).map(([name, d]) => modelObject(name, d));
    return { object: 'list', data };
  };
}
