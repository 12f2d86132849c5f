/**
 * Where and how an OpenAI-wire request goes: the upstream path per operation, the outbound
 * headers (built from scratch; client headers are never forwarded, DESIGN §12), and the
 * connection pool. Everything that depends only on the deployment is computed once and
 * cached, so the per-request work is a lookup and two array slots.
 */
import { GatewayError } from '../../errors.js';
import type { PoolRegistry, PoolSlot } from '../pools.js';
import type { Deployment, MockBehaviour, Operation } from '../types.js';
import type { CallHooks } from '../upstream-call.js';
import { openAIHooks } from './hooks.js';

const USER_AGENT = 'gatehouse/0.1';
const OPERATION_PATHS: Readonly<Record<Operation, string>> = {
  chat: 'chat/completions',
  completions: 'completions',
  embeddings: 'embeddings',
};

/** What one deployment needs per request, derived once. */
export interface Endpoint {
  /** Shared by every endpoint of one origin; its pool may be swapped for a larger one. */
  readonly slot: PoolSlot;
  readonly paths: Readonly<Record<Operation, string>>;
  /** Flat header lists (undici's cheapest form), without x-request-id. */
  readonly jsonHeaders: readonly string[];
  readonly sseHeaders: readonly string[];
  readonly hooks: CallHooks;
  /** Provider 'mock': the deployment's behaviour, sent as the body's `mock` field. */
  readonly mock: MockBehaviour | undefined;
  /** The fields the endpoint was derived from, to notice a changed deployment object. */
  readonly source: EndpointSource;
}

type EndpointSource = Pick<Deployment, 'provider' | 'baseUrl' | 'apiKey' | 'apiVersion' | 'upstreamModel' | 'capacity' | 'mock' | 'outbound'>;

/** The upstream path of each operation: `{base}/v1/...`, or Azure's deployment form. */
export function upstreamPaths(d: Deployment): Record<Operation, string> {
  const url = new URL(d.baseUrl);
  const base = url.pathname.replace(/\/+$/, '');
  if (d.provider === 'azure') {
    if (d.apiVersion === undefined || d.apiVersion === '') {
      throw new GatewayError('internal_error', `Deployment ${d.id} (azure) has no apiVersion configured.`);
    }
    const prefix = `${base}/openai/deployments/${encodeURIComponent(d.upstreamModel)}/`;
    const query = `?api-version=${encodeURIComponent(d.apiVersion)}`;
    return mapPaths((op) => prefix + op + query);
  }
  return mapPaths((op) => `${base}/${op}${url.search}`);
}

function mapPaths(build: (op: string) => string): Record<Operation, string> {
  return {
    chat: build(OPERATION_PATHS.chat),
    completions: build(OPERATION_PATHS.completions),
    embeddings: build(OPERATION_PATHS.embeddings),
  };
}

/**
 * Outbound headers: only ours. Azure authenticates with `api-key`, everyone else with a bearer
 * token. Bodies are asked for uncompressed: they are passed and scanned as they come, never
 * decoded (a 2xx in another coding fails the attempt, ../upstream-call.ts).
 */
export function upstreamHeaders(d: Deployment, accept: string): string[] {
  const headers = ['content-type', 'application/json', 'accept', accept, 'accept-encoding', 'identity', 'user-agent', USER_AGENT];
  if (d.apiKey !== '') {
    if (d.provider === 'azure') headers.push('api-key', d.apiKey);
    else headers.push('authorization', `Bearer ${d.apiKey}`);
  }
  return headers;
}

/** Caches endpoints per deployment object; a deployment whose relevant fields changed is rebuilt. */
export class EndpointCache {
  private readonly cache = new WeakMap<Deployment, Endpoint>();
  private readonly pools: PoolRegistry;

  constructor(pools: PoolRegistry) {
    this.pools = pools;
  }

  get(d: Deployment): Endpoint {
    const hit = this.cache.get(d);
    if (hit !== undefined && sameSource(hit.source, d)) return hit;
    const endpoint = this.build(d);
    this.cache.set(d, endpoint);
    return endpoint;
  }

  private build(d: Deployment): Endpoint {
    return {
      slot: this.pools.forDeployment(d),
      paths: upstreamPaths(d),
      jsonHeaders: upstreamHeaders(d, 'application/json'),
      sseHeaders: upstreamHeaders(d, 'text/event-stream, application/json'),
      hooks: openAIHooks(d.apiKey),
      mock: d.provider === 'mock' ? d.mock : undefined,
      source: {
        provider: d.provider,
        baseUrl: d.baseUrl,
        apiKey: d.apiKey,
        apiVersion: d.apiVersion,
        upstreamModel: d.upstreamModel,
        capacity: d.capacity,
        mock: d.mock,
        outbound: d.outbound,
      },
    };
  }
}

function sameSource(s: EndpointSource, d: Deployment): boolean {
  return (
    s.baseUrl === d.baseUrl &&
    s.apiKey === d.apiKey &&
    s.provider === d.provider &&
    s.upstreamModel === d.upstreamModel &&
    s.apiVersion === d.apiVersion &&
    s.capacity === d.capacity &&
    s.mock === d.mock &&
    s.outbound === d.outbound
  );
}
