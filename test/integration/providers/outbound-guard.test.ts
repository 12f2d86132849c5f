/**
 * The connect-time address rules (DESIGN §6, §12 "SSRF") are applied by EVERY adapter, one
 * contract run against each with its own mock upstream (DESIGN §11.8): a deployment whose host
 * name resolves to 127.0.0.1 is refused when the connection is made, before a byte reaches the
 * upstream, unless `security.outbound.allowCidrs` lets that address through; an IP-literal
 * base URL (no lookup happens then) and a local name are refused too.
 *
 * The name is resolved by the guard's injected resolver, not system DNS, so the test controls
 * what `model.tenant.test` "is" at connect time, as a rebinding attacker would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { AnthropicAdapter } from '../../../src/providers/anthropic/index.js';
import { BedrockAdapter } from '../../../src/providers/bedrock/index.js';
import { GeminiAdapter } from '../../../src/providers/gemini/index.js';
import { startMockAnthropic } from '../../../src/providers/mock/anthropic/index.js';
import { MOCK_AWS, startMockBedrock } from '../../../src/providers/mock/bedrock/index.js';
import { startMockGemini } from '../../../src/providers/mock/gemini/index.js';
import { startMockProvider } from '../../../src/providers/mock/index.js';
import { OpenAIAdapter } from '../../../src/providers/openai/index.js';
import type { Deployment, OutboundGuard, ProviderAdapter } from '../../../src/providers/types.js';
import { compileOutboundPolicy, OutboundRefusedError, outboundGuard, type Resolver } from '../../../src/routing/ssrf.js';
import { chatBody, deployment, readAll, upstreamRequest } from './helpers.js';

/** One adapter and its mock, as the contract needs them. */
interface Subject {
  adapter: ProviderAdapter & { close(): Promise<void> };
  /** http://127.0.0.1:PORT of the mock. */
  origin: string;
  /** Requests the mock has received, whatever their outcome. */
  seen(): number;
  /** A deployment of this provider kind calling `baseUrl` (the mock's path prefix included). */
  deployment(baseUrl: string, outbound: OutboundGuard | undefined): Deployment;
  /** The path prefix the base URL needs (the OpenAI mock serves under /v1). */
  prefix: string;
  close(): Promise<void>;
}

type Factory = () => Promise<Subject>;

const withGuard = (d: Deployment, outbound: OutboundGuard | undefined): Deployment => (outbound === undefined ? d : { ...d, outbound });

const SUBJECTS: [string, Factory][] = [
  [
    'openai',
    async () => {
      const mock = await startMockProvider();
      return {
        adapter: new OpenAIAdapter(),
        origin: mock.origin,
        prefix: '/v1',
        seen: () => mock.requests.length,
        deployment: (baseUrl, outbound) => withGuard(deployment({ baseUrl, provider: 'openai-compatible' }), outbound),
        close: () => mock.close(),
      };
    },
  ],
  [
    'anthropic',
    async () => {
      const mock = await startMockAnthropic();
      return {
        adapter: new AnthropicAdapter(),
        origin: mock.url,
        prefix: '',
        seen: () => mock.requests.length,
        deployment: (baseUrl, outbound) => withGuard(deployment({ baseUrl, provider: 'anthropic', upstreamModel: 'claude-mock' }), outbound),
        close: () => mock.close(),
      };
    },
  ],
  [
    'gemini',
    async () => {
      const mock = await startMockGemini();
      return {
        adapter: new GeminiAdapter(),
        origin: mock.url,
        prefix: '',
        seen: () => mock.requests.length,
        deployment: (baseUrl, outbound) => withGuard(deployment({ baseUrl, provider: 'gemini', upstreamModel: 'gemini-2.5-flash' }), outbound),
        close: () => mock.close(),
      };
    },
  ],
  [
    'bedrock',
    async () => {
      const mock = await startMockBedrock();
      return {
        adapter: new BedrockAdapter(),
        origin: mock.url,
        prefix: '',
        seen: () => mock.requests,
        deployment: (baseUrl, outbound) =>
          withGuard(deployment({ baseUrl, provider: 'bedrock', apiKey: '', upstreamModel: 'anthropic.claude-3-haiku-20240307-v1:0', aws: MOCK_AWS }), outbound),
        close: () => mock.close(),
      };
    },
  ],
];

const TENANT_HOST = 'model.tenant.test';
/** What the tenant's name resolves to at connect time: the gateway's own loopback. */
const toLoopback: Resolver = async (host) => {
  if (host !== TENANT_HOST) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return ['127.0.0.1'];
};
const deny = compileOutboundPolicy();
const allowLoopback = compileOutboundPolicy({ allowPrivate: false, allowHosts: [], allowCidrs: ['127.0.0.1/32'] });

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: unknown) => err,
  );
}

describe.each(SUBJECTS)('the %s adapter applies the connect-time address rules', (_name, start) => {
  let s: Subject;
  let port: string;
  beforeAll(async () => {
    s = await start();
    port = new URL(s.origin).port;
  });
  afterAll(async () => {
    await s?.adapter.close();
    await s?.close();
  });

  it('refuses a host name that resolves to 127.0.0.1 when connecting: nothing reaches the upstream', async () => {
    const before = s.seen();
    const d = s.deployment(`http://${TENANT_HOST}:${port}${s.prefix}`, outboundGuard(deny, toLoopback));
    const err = await failure(s.adapter.send(d, upstreamRequest(chatBody())));
    expect(err).toBeInstanceOf(GatewayError);
    // The guard's refusal is the cause (not a closed port): it names the rule and the name.
    const cause = (err as GatewayError).cause;
    expect(cause).toBeInstanceOf(OutboundRefusedError);
    expect((cause as OutboundRefusedError).rule).toBe('loopback');
    expect((cause as Error).message).toContain(`${TENANT_HOST} resolves to it`);
    expect(s.seen()).toBe(before);
  });

  it('connects to the checked address when security.outbound.allowCidrs allows it', async () => {
    const before = s.seen();
    const d = s.deployment(`http://${TENANT_HOST}:${port}${s.prefix}`, outboundGuard(allowLoopback, toLoopback));
    const res = await s.adapter.send(d, upstreamRequest(chatBody()));
    const text = await readAll(res.body);
    expect(res.status, text).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ object: 'chat.completion' });
    expect(s.seen()).toBe(before + 1);
  });

  it('refuses an IP-literal base URL (Node does no lookup for it) and a local name, before connecting', async () => {
    const before = s.seen();
    const literal = await failure(s.adapter.send(s.deployment(`http://127.0.0.1:${port}${s.prefix}`, outboundGuard(deny, toLoopback)), upstreamRequest(chatBody())));
    expect(literal).toMatchObject({ code: 'upstream_unavailable' });
    expect((literal as Error).message).toMatch(/loopback/);
    const mapped = await failure(s.adapter.send(s.deployment(`http://[::ffff:127.0.0.1]:${port}${s.prefix}`, outboundGuard(deny, toLoopback)), upstreamRequest(chatBody())));
    expect(mapped).toMatchObject({ code: 'upstream_unavailable' });
    const local = await failure(s.adapter.send(s.deployment(`http://localhost:${port}${s.prefix}`, outboundGuard(allowLoopback, toLoopback)), upstreamRequest(chatBody())));
    expect(((local as GatewayError).cause as OutboundRefusedError).rule).toBe('local_name');
    expect(s.seen()).toBe(before);
  });

  it('an operator deployment (no guard) to the same address is trusted and does not open the way for a guarded one', async () => {
    const trusted = await s.adapter.send(s.deployment(`${s.origin}${s.prefix}`, undefined), upstreamRequest(chatBody()));
    expect(trusted.status).toBe(200);
    await readAll(trusted.body);
    // Same origin as the trusted pool, whose kept-alive connection must not be reused.
    const before = s.seen();
    const guarded = await failure(s.adapter.send(s.deployment(`${s.origin}${s.prefix}`, outboundGuard(deny, toLoopback)), upstreamRequest(chatBody())));
    expect(guarded).toMatchObject({ code: 'upstream_unavailable' });
    expect(s.seen()).toBe(before);
  });
});
