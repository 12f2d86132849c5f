/** The model list and model object of the OpenAI API, limited to what the caller may use. */
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

function modelObject(d: Deployment): ModelObject {
  return { id: d.model, object: 'model', created: d.created, owned_by: d.ownedBy };
}

export function renderModels(registry: Registry) {
  return function modelsResponse(ctx: RequestContext): ModelObject | { object: 'list'; data: ModelObject[] } {
    const { tenant, principal } = ctx;
    if (tenant === undefined || principal === undefined) throw new Error('models rendered before authenticate');
    const snapshot = registry.current;
    if (ctx.endpoint.op === 'models.get') {
      const d = snapshot.deploymentsByModel.get(ctx.endpoint.model)?.[0];
      if (d === undefined) throw modelNotFound(ctx.endpoint.model);
      return modelObject(d);
    }
    const data = visibleModels(snapshot, tenant, principal.allowedModels).map((m) =>
      modelObject(snapshot.deploymentsByModel.get(m)?.[0] as Deployment),
    );
    return { object: 'list', data };
  };
}
