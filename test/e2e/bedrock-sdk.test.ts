/**
 * The official OpenAI SDK through a running gateway to a `bedrock` deployment served by the mock
 * Bedrock Runtime (which verifies each SigV4 signature): chat, streaming with usage, tools.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOCK_AWS, startMockBedrock, type MockBedrock } from '../../src/providers/mock/bedrock/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const KEY = 'sk-bedrock-0123456789abcdef0123456789abcdef';

let mock: MockBedrock;
let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  mock = await startMockBedrock();
  gw = await startTestGateway({
    yaml: `
demo: { enabled: false }
providers:
  - name: aws
    kind: bedrock
    baseUrl: ${mock.url}
    aws:
      accessKeyId: { env: TEST_AWS_ACCESS_KEY_ID }
      secretAccessKey: { env: TEST_AWS_SECRET_ACCESS_KEY }
      region: us-east-1
deployments:
  - model: claude-haiku
    provider: aws
    upstreamModel: anthropic.claude-3-haiku-20240307-v1:0
    region: us
  - model: titan-embed
    provider: aws
    kind: embedding
    upstreamModel: amazon.titan-embed-text-v2:0
    region: us
tenants:
  - slug: acme
    keys: [{ name: main, value: ${KEY} }]
`,
    env: { TEST_AWS_ACCESS_KEY_ID: MOCK_AWS.accessKeyId, TEST_AWS_SECRET_ACCESS_KEY: MOCK_AWS.secretAccessKey },
  });
  client = new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await gw?.stop();
  await mock?.close();
});

describe('OpenAI SDK → gateway → Bedrock', () => {
  it('answers a chat completion', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'claude-haiku', messages: [{ role: 'user', content: 'Say hello' }] })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.choices[0]?.message.content).toBe('You said: Say hello');
    expect(data.choices[0]?.finish_reason).toBe('stop');
    expect(data.usage).toMatchObject({ prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
    expect(response.headers.get('x-gatehouse-model')).toBe('claude-haiku');
  });

  it('streams chunks with the usage chunk', async () => {
    const stream = await client.chat.completions.create({
      model: 'claude-haiku',
      messages: [{ role: 'user', content: 'Count to five please' }],
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
    expect(text).toBe('You said: Count to five please');
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 6 });
  });

  it('returns tool calls, streamed and not, whose arguments parse', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: 'function',
        function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      },
    ];
    const res = await client.chat.completions.create({
      model: 'claude-haiku',
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools,
      tool_choice: 'required',
    });
    const call = res.choices[0]?.message.tool_calls?.[0];
    expect(res.choices[0]?.finish_reason).toBe('tool_calls');
    if (call?.type !== 'function') throw new Error('no function call');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' });

    const stream = client.chat.completions.stream({
      model: 'claude-haiku',
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools,
    });
    const final = await stream.finalChatCompletion();
    const streamed = final.choices[0]?.message.tool_calls?.[0];
    if (streamed?.type !== 'function') throw new Error('no streamed function call');
    expect(streamed.function.name).toBe('get_weather');
    expect(JSON.parse(streamed.function.arguments)).toEqual({ city: 'Paris' });
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('embeds through Titan', async () => {
    const res = await client.embeddings.create({ model: 'titan-embed', input: ['hello world', 'bye'] });
    expect(res.data).toHaveLength(2);
    expect(res.data[0]?.embedding.length).toBeGreaterThan(0);
    expect(res.usage.prompt_tokens).toBe(3);
  });

  it('a client that aborts its stream cancels the upstream ConverseStream', async () => {
    const before = mock.cancelledStreams;
    const ac = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'claude-haiku', messages: [{ role: 'user', content: 'long answer [slow]' }], stream: true },
      { signal: ac.signal },
    );
    let chunks = 0;
    // The SDK ends the iteration quietly (or throws) on abort: either way the client is gone.
    await (async () => {
      for await (const _chunk of stream) {
        chunks += 1;
        if (chunks === 3) ac.abort();
      }
    })().catch(() => undefined);
    expect(chunks).toBeLessThan(50);
    await expect.poll(() => mock.cancelledStreams, { timeout: 5_000 }).toBe(before + 1);
  });

  it('refuses a remote image URL with a 400 the SDK raises as BadRequestError', async () => {
    const err = await client.chat.completions
      .create({
        model: 'claude-haiku',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).message).toMatch(/data URL/);
  });

  it('surfaces an upstream throttle as the SDK RateLimitError', async () => {
    await expect(
      client.chat.completions.create({ model: 'claude-haiku', messages: [{ role: 'user', content: 'x [error:ThrottlingException]' }] }),
    ).rejects.toBeInstanceOf(OpenAI.RateLimitError);
  });
});
