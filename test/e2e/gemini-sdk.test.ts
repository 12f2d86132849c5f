/**
 * The official OpenAI SDK through a running gateway to a deployment with provider `gemini`
 * (the mock Gemini server): chat, streaming with usage, tools (JSON and streamed), embeddings,
 * and an upstream 429 reaching the SDK as its typed error.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockGemini, startMockGemini } from '../../src/providers/mock/gemini/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const TENANT_KEY = 'sk-gemini-e2e-0123456789abcdef0123456789ab';
const GOOGLE_KEY = 'AIza-e2e-google-key-0123456789';

let mock: MockGemini;
let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  mock = await startMockGemini({ apiKey: GOOGLE_KEY });
  gw = await startTestGateway({
    yaml: `
providers:
  - name: google
    kind: gemini
    baseUrl: ${mock.url}
    apiKey: { env: E2E_GEMINI_KEY }
deployments:
  - model: gemini-flash
    provider: google
    upstreamModel: gemini-2.5-flash
  - model: gemini-embed
    provider: google
    upstreamModel: text-embedding-004
    kind: embedding
tenants:
  - slug: acme
    keys:
      - { name: main, value: ${TENANT_KEY} }
`,
    env: { E2E_GEMINI_KEY: GOOGLE_KEY },
  });
  client = new OpenAI({ apiKey: TENANT_KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
}, 120_000);
afterAll(async () => {
  await gw?.stop();
  await mock?.close();
});

const weather: OpenAI.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather',
    strict: true,
    parameters: { type: 'object', additionalProperties: false, properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe('OpenAI SDK → gateway → Gemini', () => {
  it('chat completion with usage and the gateway headers', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gemini-flash', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello' }] })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.choices[0]?.message.content).toBe('Gemini mock reply: Say hello');
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.usage?.total_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-gatehouse-model')).toBe('gemini-flash');
    const seen = mock.requests[mock.requests.length - 1];
    expect(seen?.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(seen?.headers['x-goog-api-key']).toBe(GOOGLE_KEY);
    // The tenant's key never travels upstream.
    expect(JSON.stringify(seen?.headers)).not.toContain(TENANT_KEY);
  });

  it('streams content and the usage chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'gemini-flash',
      messages: [{ role: 'user', content: 'Count to five' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Gemini mock reply: Count to five');
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(6);
  });

  it('tool calls: JSON and streamed, and the tool round trip', async () => {
    const res = await client.chat.completions.create({
      model: 'gemini-flash',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [weather],
      tool_choice: 'required',
    });
    const call = res.choices[0]?.message.tool_calls?.[0];
    expect(res.choices[0]?.finish_reason).toBe('tool_calls');
    if (call?.type !== 'function') throw new Error('no function call');
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'example' });

    const stream = await client.chat.completions.create({
      model: 'gemini-flash',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [weather],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      stream: true,
    });
    let name = '';
    let args = '';
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.tool_calls?.[0];
      name += delta?.function?.name ?? '';
      args += delta?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(name).toBe('get_weather');
    expect(JSON.parse(args)).toEqual({ city: 'example' });
    expect(finish).toBe('tool_calls');

    const answer = await client.chat.completions.create({
      model: 'gemini-flash',
      tools: [weather],
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: call.id, type: 'function', function: call.function }] },
        { role: 'tool', tool_call_id: call.id, content: '{"temperature":21}' },
      ],
    });
    expect(answer.choices[0]?.message.content).toBe('Results: get_weather={"temperature":21}');
  });

  it('embeddings (the SDK asks for base64 and decodes it)', async () => {
    const res = await client.embeddings.create({ model: 'gemini-embed', input: ['hello', 'world'], dimensions: 8 });
    expect(res.data).toHaveLength(2);
    expect(res.data[0]?.embedding).toHaveLength(8);
    expect(res.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it('a client that disconnects mid-stream cancels the Gemini request', async () => {
    const before = mock.aborted;
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'gemini-flash', messages: [{ role: 'user', content: '[[chunks:500]] [[delay:20]]' }], stream: true },
      { signal: controller.signal },
    );
    let chunks = 0;
    // The SDK ends the iteration (or throws, depending on timing) once its request is aborted.
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content !== undefined) chunks += 1;
        if (chunks === 3) {
          controller.abort();
          // Chunks that arrived in the same read would still be yielded: stop here.
          break;
        }
      }
    } catch {
      // Aborted: expected.
    }
    expect(chunks).toBe(3);
    const deadline = Date.now() + 5_000;
    while (mock.aborted === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(mock.aborted).toBe(before + 1);
    expect(mock.completed).toBeGreaterThan(0);
  });

  it('an upstream 429 is the SDK RateLimitError with Retry-After', async () => {
    const err = await client.chat.completions.create({ model: 'gemini-flash', messages: [{ role: 'user', content: '[[error:429]]' }] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after')).toBe('7');
  });
});
