/**
 * The mock speaks the real chat wire format: the official openai SDK (v6), pointed straight at
 * it, parses every reply shape.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockProvider, startMockProvider } from '../../../src/providers/mock/index.js';

let mock: MockProvider;
let client: OpenAI;
const user = (content: string): OpenAI.Chat.ChatCompletionMessageParam[] => [{ role: 'user', content }];

beforeAll(async () => {
  mock = await startMockProvider({});
  client = new OpenAI({ baseURL: mock.url, apiKey: 'sk-mock', maxRetries: 0 });
});
afterAll(() => mock.close());

const weatherTool: OpenAI.Chat.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, days: { type: 'integer' }, metric: { type: 'boolean' } },
      required: ['city'],
    },
  },
};

describe('mock chat completions via the openai SDK', () => {
  it('answers deterministically with usage, id, fingerprint and the requested model', async () => {
    const a = await client.chat.completions.create({ model: 'my-model', messages: user('What is up?') });
    const b = await client.chat.completions.create({ model: 'my-model', messages: user('What is up?') });
    expect(a.object).toBe('chat.completion');
    expect(a.id).toMatch(/^chatcmpl-/);
    expect(a.model).toBe('my-model');
    expect(typeof a.created).toBe('number');
    expect(a.system_fingerprint).toBeTruthy();
    expect(a.choices).toHaveLength(1);
    expect(a.choices[0]?.message.role).toBe('assistant');
    expect(a.choices[0]?.message.content).toContain('What is up?');
    expect(a.choices[0]?.finish_reason).toBe('stop');
    expect(b.choices[0]?.message.content).toBe(a.choices[0]?.message.content);
    const u = a.usage;
    expect(u?.prompt_tokens).toBe(Math.ceil('What is up?'.length / 4));
    expect(u?.completion_tokens).toBeGreaterThan(0);
    expect(u?.total_tokens).toBe((u?.prompt_tokens ?? 0) + (u?.completion_tokens ?? 0));
  });

  it('returns n choices with their indexes', async () => {
    const r = await client.chat.completions.create({ model: 'm', messages: user('hi'), n: 3 });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2]);
  });

  it('cuts at a stop sequence with finish_reason stop', async () => {
    const r = await client.chat.completions.create({ model: 'm', messages: user('hello'), stop: ['mock'] });
    expect(r.choices[0]?.message.content).toBe('This is a ');
    expect(r.choices[0]?.finish_reason).toBe('stop');
  });

  it('truncates at max_tokens / max_completion_tokens with finish_reason length', async () => {
    const a = await client.chat.completions.create({ model: 'm', messages: user('hello'), max_tokens: 2 });
    expect(a.choices[0]?.message.content).toBe('This is');
    expect(a.choices[0]?.finish_reason).toBe('length');
    expect(a.usage?.completion_tokens).toBe(2);
    const b = await client.chat.completions.create({ model: 'm', messages: user('hello'), max_completion_tokens: 3 });
    expect(b.choices[0]?.message.content).toBe('This is a');
    expect(b.choices[0]?.finish_reason).toBe('length');
  });

  it('calls a tool when required, with arguments named after the parameters', async () => {
    const r = await client.chat.completions.create({
      model: 'm',
      messages: user('hello'),
      tools: [weatherTool],
      tool_choice: 'required',
    });
    const choice = r.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBeNull();
    const call = choice?.message.tool_calls?.[0];
    expect(call?.type).toBe('function');
    expect(call?.id).toMatch(/^call_/);
    if (call?.type !== 'function') throw new Error('expected a function call');
    expect(call.function.name).toBe('get_weather');
    const args = JSON.parse(call.function.arguments) as Record<string, unknown>;
    expect(typeof args.city).toBe('string');
  });

  it('calls a named tool, or one the user mentions; never with tool_choice none', async () => {
    const other: OpenAI.Chat.ChatCompletionTool = { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } };
    const named = await client.chat.completions.create({
      model: 'm',
      messages: user('hi'),
      tools: [weatherTool, other],
      tool_choice: { type: 'function', function: { name: 'lookup' } },
    });
    const namedCall = named.choices[0]?.message.tool_calls?.[0];
    expect(namedCall?.type === 'function' && namedCall.function.name).toBe('lookup');
    const asked = await client.chat.completions.create({ model: 'm', messages: user('please use get_weather for Paris'), tools: [weatherTool] });
    expect(asked.choices[0]?.finish_reason).toBe('tool_calls');
    const plain = await client.chat.completions.create({ model: 'm', messages: user('just chat'), tools: [weatherTool] });
    expect(plain.choices[0]?.finish_reason).toBe('stop');
    const none = await client.chat.completions.create({ model: 'm', messages: user('use get_weather'), tools: [weatherTool], tool_choice: 'none' });
    expect(none.choices[0]?.finish_reason).toBe('stop');
  });

  it('answers valid JSON in json_object mode and fits a json_schema', async () => {
    const obj = await client.chat.completions.create({ model: 'm', messages: user('json please'), response_format: { type: 'json_object' } });
    expect(() => JSON.parse(obj.choices[0]?.message.content ?? '') as unknown).not.toThrow();
    const schema = await client.chat.completions.create({
      model: 'm',
      messages: user('structured'),
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'person',
          strict: true,
          schema: {
            type: 'object',
            properties: {
              name: { type: 'string' },
              age: { type: 'integer' },
              score: { type: 'number' },
              active: { type: 'boolean' },
              tags: { type: 'array', items: { type: 'string' } },
              address: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
            },
            required: ['name', 'age', 'score', 'active', 'tags', 'address'],
            additionalProperties: false,
          },
        },
      },
    });
    const value = JSON.parse(schema.choices[0]?.message.content ?? '') as Record<string, unknown>;
    expect(typeof value.name).toBe('string');
    expect(Number.isInteger(value.age)).toBe(true);
    expect(typeof value.score).toBe('number');
    expect(typeof value.active).toBe('boolean');
    expect(Array.isArray(value.tags)).toBe(true);
    expect(typeof (value.address as Record<string, unknown>).city).toBe('string');
  });
});

describe('mock chat streaming via the openai SDK', () => {
  it('streams role, content deltas, finish, then a usage-only chunk when include_usage is set', async () => {
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: user('stream me'),
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]?.id)).toBe(true);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('This is a mock response. You said: stream me');
    const finish = chunks.at(-2);
    expect(finish?.choices[0]?.finish_reason).toBe('stop');
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.completion_tokens).toBe(9);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
  });

  it('has no usage field at all without include_usage', async () => {
    const stream = await client.chat.completions.create({ model: 'm', messages: user('x'), stream: true });
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.every((c) => !('usage' in c))).toBe(true);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
  });

  it('streams a tool call: id and name first, arguments in pieces', async () => {
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: user('weather?'),
      tools: [weatherTool],
      tool_choice: 'required',
      stream: true,
    });
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    const first = chunks[0]?.choices[0]?.delta.tool_calls?.[0];
    expect(first?.id).toMatch(/^call_/);
    expect(first?.function?.name).toBe('get_weather');
    const pieces = chunks.slice(1).map((c) => c.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '');
    expect(pieces.filter((p) => p !== '').length).toBeGreaterThan(1);
    expect(typeof (JSON.parse(pieces.join('')) as Record<string, unknown>).city).toBe('string');
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('the SDK stream helper assembles a final message from the mock stream', async () => {
    const runner = client.chat.completions.stream({ model: 'm', messages: user('assemble'), n: 2 });
    const final = await runner.finalChatCompletion();
    expect(final.choices).toHaveLength(2);
    expect(final.choices[1]?.message.content).toBe('This is a mock response. You said: assemble');
  });

  it('honours mock.tokens for long streams', async () => {
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: user('long'),
      stream: true,
      stream_options: { include_usage: true },
      // The mock's per-request behaviour field is not part of the OpenAI API types.
      mock: { tokens: 500 },
    } as OpenAI.Chat.ChatCompletionCreateParamsStreaming);
    let deltas = 0;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const c of stream) {
      if (c.choices[0]?.delta.content) deltas++;
      if (c.usage) usage = c.usage;
    }
    expect(deltas).toBe(500);
    expect(usage?.completion_tokens).toBe(500);
  });
});
