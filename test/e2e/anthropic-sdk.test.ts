/**
 * POST /v1/messages with the official Anthropic SDK against a running gateway, for a mock-OpenAI
 * deployment and an Anthropic deployment pointed at the mock Anthropic server; the SDK's typed
 * errors; and the OpenAI SDK calling a model whose deployment is Anthropic.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockAnthropic, startMockAnthropic } from '../../src/providers/mock/anthropic/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const KEY = 'sk-acme-0123456789abcdef0123456789abcdef';
const UPSTREAM_KEY = 'sk-ant-upstream-CANARY-0123456789';

let upstream: MockAnthropic;
let slowUpstream: MockAnthropic;
let gw: TestGateway;
let client: Anthropic;

const WEATHER: Anthropic.Tool = {
  name: 'get_weather',
  description: 'Current weather in a city',
  input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
};

beforeAll(async () => {
  upstream = await startMockAnthropic({ apiKey: UPSTREAM_KEY });
  slowUpstream = await startMockAnthropic({ apiKey: UPSTREAM_KEY, eventDelayMs: 40 });
  gw = await startTestGateway({
    yaml: `
demo: { enabled: false }
providers:
  - name: mock
    kind: mock
  - name: claude
    kind: anthropic
    baseUrl: ${upstream.url}
    apiKey: ${UPSTREAM_KEY}
  - name: claude-slow
    kind: anthropic
    baseUrl: ${slowUpstream.url}
    apiKey: ${UPSTREAM_KEY}
deployments:
  - model: claude-slow
    provider: claude-slow
    upstreamModel: claude-mock
  - model: claude-flaky
    provider: claude
    upstreamModel: claude-stream-error
  - model: claude-stalling
    provider: claude
    upstreamModel: claude-stream-stall
    streamIdleTimeoutMs: 1000
  - model: gpt-4o-mini
    provider: mock
  - model: claude-test
    provider: claude
    upstreamModel: claude-mock
  - model: claude-limited
    provider: claude
    upstreamModel: claude-error-429
tenants:
  - slug: acme
    keys: [{ name: main, value: ${KEY} }]
`,
  });
  client = new Anthropic({ apiKey: KEY, baseURL: gw.url, maxRetries: 0 });
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  await slowUpstream?.close();
});

describe.each(['gpt-4o-mini', 'claude-test'])('Anthropic SDK → /v1/messages → %s', (model) => {
  it('answers messages.create with text and usage', async () => {
    const { data, response } = await client.messages
      .create({ model, max_tokens: 200, system: 'Be brief.', messages: [{ role: 'user', content: 'Say hello' }] })
      .withResponse();
    expect(data.type).toBe('message');
    expect(data.role).toBe('assistant');
    expect(data.content[0]?.type).toBe('text');
    expect(data.stop_reason).toBe('end_turn');
    expect(data.usage.input_tokens).toBeGreaterThan(0);
    expect(data.usage.output_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-tenant-id')).toBe('acme');
    expect(response.headers.get('x-gatehouse-model')).toBe(model);
    expect(response.headers.get('request-id')).toBe(response.headers.get('x-request-id'));
  });

  it('returns tool_use blocks and takes tool_result turns', async () => {
    const first = await client.messages.create({
      model,
      max_tokens: 200,
      tools: [WEATHER],
      tool_choice: { type: 'any' },
      messages: [{ role: 'user', content: 'What is the weather in Paris? Use get_weather.' }],
    });
    expect(first.stop_reason).toBe('tool_use');
    const call = first.content.find((b) => b.type === 'tool_use');
    if (call?.type !== 'tool_use') throw new Error('no tool_use block');
    expect(call.name).toBe('get_weather');
    expect(typeof (call.input as { location?: unknown }).location).toBe('string');

    const second = await client.messages.create({
      model,
      max_tokens: 200,
      tools: [WEATHER],
      messages: [
        { role: 'user', content: 'What is the weather in Paris? Use get_weather.' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'sunny, 21C' }] },
      ],
    });
    expect(second.stop_reason).toBe('end_turn');
    const text = second.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
    expect(text).toContain('sunny, 21C');
  });

  it('streams text with messages.stream (events and final message with usage)', async () => {
    const stream = client.messages.stream({ model, max_tokens: 200, messages: [{ role: 'user', content: 'Count to five' }] });
    let text = '';
    stream.on('text', (t) => (text += t));
    const final = await stream.finalMessage();
    expect(text.length).toBeGreaterThan(0);
    expect(final.content[0]?.type === 'text' ? final.content[0].text : '').toBe(text);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.output_tokens).toBeGreaterThan(0);
    expect(final.usage.input_tokens).toBeGreaterThan(0);
  });

  it('streams tool_use with stream: true (input_json_delta events assemble the input)', async () => {
    const stream = await client.messages.create({
      model,
      max_tokens: 200,
      stream: true,
      tools: [WEATHER],
      tool_choice: { type: 'tool', name: 'get_weather' },
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    const types: string[] = [];
    let json = '';
    let stop: string | null | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'content_block_delta' && event.delta.type === 'input_json_delta') json += event.delta.partial_json;
      if (event.type === 'message_delta') stop = event.delta.stop_reason;
    }
    expect(types[0]).toBe('message_start');
    expect(types.at(-1)).toBe('message_stop');
    expect(types).toContain('content_block_start');
    expect(types).toContain('content_block_stop');
    expect(stop).toBe('tool_use');
    expect(typeof (JSON.parse(json) as { location?: unknown }).location).toBe('string');
  });
});

describe('Anthropic SDK errors', () => {
  it('a wrong key raises AuthenticationError', async () => {
    const bad = new Anthropic({ apiKey: 'sk-wrong-0123456789abcdef0123456789abcdef', baseURL: gw.url, maxRetries: 0 });
    const err = await bad.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((err as InstanceType<typeof Anthropic.AuthenticationError>).error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  });

  it('an unknown model raises NotFoundError', async () => {
    const err = await client.messages.create({ model: 'no-such-model', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect((err as InstanceType<typeof Anthropic.NotFoundError>).error).toMatchObject({ error: { type: 'not_found_error' } });
  });

  it('an upstream rate limit raises RateLimitError with retry-after', async () => {
    const err = await client.messages.create({ model: 'claude-limited', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    const limited = err as InstanceType<typeof Anthropic.RateLimitError>;
    expect(limited.headers?.get('retry-after')).toBe('7');
    expect(limited.error).toMatchObject({ error: { type: 'rate_limit_error' } });
    expect(limited.requestID).toBe(limited.headers?.get('x-request-id'));
  });

  it('bad input is a 400 invalid_request_error naming the field', async () => {
    const res = await fetch(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-test', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe('error');
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toMatch(/^max_tokens/);
    expect((body as { request_id?: string }).request_id).toBe(res.headers.get('x-request-id'));
  });

  it("a wrong method on /v1/messages is a 405 in Anthropic's format, with Allow", async () => {
    for (const url of [`${gw.url}/v1/messages`, `${gw.url}/api/v1/tenants/acme/v1/messages`]) {
      const res = await fetch(url, { method: 'GET', headers: { 'x-api-key': KEY } });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      const body = (await res.json()) as { type: string; error: { type: string } };
      expect(body.type).toBe('error');
      expect(typeof body.error.type).toBe('string');
    }
    // The OpenAI routes keep OpenAI's envelope.
    const openai = (await (await fetch(`${gw.url}/v1/chat/completions`, { method: 'GET' })).json()) as { error: { code: string } };
    expect(openai.error.code).toBe('method_not_allowed');
  });

  it('accepts Authorization: Bearer and the tenant-scoped path', async () => {
    const res = await fetch(`${gw.url}/api/v1/tenants/acme/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { type: string }).type).toBe('message');
    const other = await fetch(`${gw.url}/api/v1/tenants/other/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(other.status).toBeGreaterThanOrEqual(400);
    expect(((await other.json()) as { type: string }).type).toBe('error');
  });
});

describe('Anthropic SDK streams that end early', () => {
  it('an upstream failure mid-stream reaches the SDK as an error event', async () => {
    const stream = client.messages.stream({ model: 'claude-flaky', max_tokens: 50, messages: [{ role: 'user', content: 'hello there' }] });
    const err = await stream.finalMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(String((err as Error).message)).toMatch(/overloaded_error|failed mid-stream/);
  });

  it('a stream the upstream stops sending mid-way ends after streamIdleTimeoutMs with an error event; the upstream call is cancelled', async () => {
    const before = upstream.aborted;
    const sent = upstream.requests.length;
    const started = Date.now();
    const res = await request(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-stalling', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hello there' }] }),
    });
    const text = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(text).toContain('event: content_block_delta');
    const last = text.trim().split('\n\n').at(-1) ?? '';
    expect(last).toMatch(/^event: error\ndata: /);
    const body = JSON.parse(last.split('\ndata: ')[1] as string) as { type: string; error: { type: string; message: string } };
    expect(body).toMatchObject({ type: 'error', error: { type: 'api_error' } }); // a 504 in Anthropic's types
    expect(body.error.message).toContain('1000 ms');
    expect(text).not.toContain('message_stop');
    expect(upstream.requests.length - sent).toBe(1); // never retried after the first byte
    await expect.poll(() => upstream.aborted, { timeout: 5_000 }).toBe(before + 1);

    // The SDK raises it as an APIError.
    const stream = client.messages.stream({ model: 'claude-stalling', max_tokens: 50, messages: [{ role: 'user', content: 'hello there' }] });
    const err = await stream.finalMessage().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(String((err as Error).message)).toContain('stopped sending');
  });

  it('a client that aborts its stream cancels the upstream request', async () => {
    const before = slowUpstream.aborted;
    const stream = client.messages.stream({ model: 'claude-slow', max_tokens: 100, messages: [{ role: 'user', content: 'a b c d e f g h i j k l m n o p q r s t' }] });
    await new Promise<void>((resolve) => stream.once('text', () => resolve()));
    stream.abort();
    await stream.done().catch(() => undefined);
    await expect.poll(() => slowUpstream.aborted, { timeout: 5_000 }).toBe(before + 1);
  });
});

describe('OpenAI SDK → Anthropic deployment', () => {
  it('streams tool-call deltas whose arguments join to JSON, then usage', async () => {
    const openai = new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const stream = await openai.chat.completions.create({
      model: 'claude-test',
      stream: true,
      stream_options: { include_usage: true },
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: WEATHER.input_schema as Record<string, unknown> } }],
      tool_choice: 'required',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    let args = '';
    let name: string | undefined;
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      const call = chunk.choices[0]?.delta.tool_calls?.[0];
      if (call?.function?.name) name = call.function.name;
      args += call?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(name).toBe('get_weather');
    expect(JSON.parse(args)).toEqual({ location: 'San Francisco, CA' });
    expect(finish).toBe('tool_calls');
    expect(usage?.prompt_tokens).toBeGreaterThan(0);
    // The gateway's client key never reaches the provider; its own key does.
    const sent = upstream.requests.at(-1);
    expect(sent?.headers['x-api-key']).toBe(UPSTREAM_KEY);
    expect(JSON.stringify(sent?.headers)).not.toContain(KEY);
  });

  it('a non-stream completion from an Anthropic deployment', async () => {
    const openai = new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const res = await openai.chat.completions.create({ model: 'claude-test', messages: [{ role: 'user', content: 'Hi there' }] });
    expect(res.choices[0]?.message.content).toBe('Hello from mock Claude. You said: Hi there');
    expect(res.usage?.completion_tokens).toBe(8);
  });
});
