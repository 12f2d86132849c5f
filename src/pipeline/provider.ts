/**
 * Stage: send the request to the chosen deployment through its provider adapter. The answer is
 * left on the context for the server to stream back; this stage never touches the client socket.
 */
import type { ProviderAdapter, ProviderKind } from '../providers/types.js';
import type { RequestContext, Stage } from './context.js';

export interface AdapterSource {
  get(kind: ProviderKind): ProviderAdapter;
}

export function callProvider(adapters: AdapterSource): Stage {
  return async function providerStage(ctx: RequestContext): Promise<void> {
    const { deployment, operation, body } = ctx;
    if (deployment === undefined || operation === undefined || body === undefined) {
      throw new Error('provider ran before route');
    }
    ctx.upstreamStartedAt = process.hrtime.bigint();
    ctx.upstream = await adapters.get(deployment.provider).send(deployment, {
      operation,
      body,
      stream: body.stream === true,
      requestId: ctx.requestId,
      signal: ctx.signal,
    });
    ctx.upstreamAnsweredAt = process.hrtime.bigint();
  };
}
