/**
 * Conformance with the official OpenAI SDK, against a running gateway with the built-in mock
 * provider: what a tenant developer does on day one must just work.
 */
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DEMO_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  gw = await startTestGateway();
  client = new OpenAI({ apiKey: DEMO_KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await gw?.stop();
});

describe('chat completions', () => {
  it('answers a plain request with usage and gateway headers', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.choices[0]?.message.role).toBe('assistant');
    expect(typeof data.choices[0]?.message.content).toBe('string');
    expect(data.usage?.total_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get('x-tenant-id')).toBe('demo');
    expect(response.headers.get('x-gatehouse-model')).toBe('gpt-4o-mini');
    expect(response.headers.get('x-gatehouse-model-version')).toBe('gpt-4o-mini-2024-07-18');
    expect(Number(response.headers.get('x-gatehouse-processing-ms'))).toBeGreaterThanOrEqual(0);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
  });

  it('streams chunks and the usage chunk with stream_options.include_usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'Count to five' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      chunks += 1;
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(text.length).toBeGreaterThan(0);
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('returns tool calls whose arguments parse as JSON', async () => {
    const res = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          },
        },
      ],
      tool_choice: 'required',
    });
    const call = res.choices[0]?.message.tool_calls?.[0];
    expect(res.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.type).toBe('function');
    if (call?.type !== 'function') throw new Error('no function call');
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toHaveProperty('city');
  });

  it('streams tool call deltas that reassemble into valid JSON', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }],
      tool_choice: { type: 'function', function: { name: 'lookup' } },
      stream: true,
    });
    let args = '';
    let name = '';
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.tool_calls?.[0];
      name += delta?.function?.name ?? '';
      args += delta?.function?.arguments ?? '';
    }
    expect(name).toBe('lookup');
    expect(() => JSON.parse(args) as unknown).not.toThrow();
  });

  it('honours response_format json_schema, n and stop', async () => {
    const json = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'give me a person' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'person',
          schema: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name', 'age'] },
        },
      },
    });
    const parsed = JSON.parse(json.choices[0]?.message.content ?? '') as { name: unknown; age: unknown };
    expect(typeof parsed.name).toBe('string');
    expect(Number.isInteger(parsed.age)).toBe(true);

    const many = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      n: 3,
    });
    expect(many.choices.map((c) => c.index)).toEqual([0, 1, 2]);

    const full = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'stop test' }] });
    const text = full.choices[0]?.message.content ?? '';
    const word = text.split(' ')[2] ?? text.slice(0, 3);
    const stopped = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'stop test' }],
      stop: [word],
    });
    expect(stopped.choices[0]?.message.content?.includes(word)).toBe(false);
    expect(stopped.choices[0]?.finish_reason).toBe('stop');
  });

  it('parse() with zod structured outputs, recursive ones included ($ref to the root and to $defs)', async () => {
    // A tree and a linked list refer to the root ("#"); a sub-schema used twice becomes a definition.
    const Tree = z.object({
      value: z.string(),
      get children() {
        return z.array(Tree);
      },
    });
    const Node = z.object({
      v: z.number(),
      get next() {
        return Node.nullable();
      },
    });
    const Address = z.object({ zip: z.number().int() });
    const Person = z.object({ home: Address, work: Address.nullable(), tags: z.array(z.enum(['a', 'b'])) });
    for (const [schema, name] of [
      [Tree, 'tree'],
      [Node, 'node'],
      [Person, 'person'],
    ] as const) {
      const res = await client.chat.completions.parse({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
        response_format: zodResponseFormat(schema, name),
      });
      expect(res.choices[0]?.message.parsed, name).toBeTruthy();
    }
    // By hand, as OpenAI's own docs write one: "$ref": "#/$defs/..." .
    const defs = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'ui',
          strict: true,
          schema: {
            type: 'object',
            properties: { root: { $ref: '#/$defs/el' }, count: { $ref: '#/definitions/n' } },
            required: ['root', 'count'],
            additionalProperties: false,
            $defs: {
              el: {
                type: 'object',
                properties: { label: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/el' } } },
                required: ['label', 'children'],
                additionalProperties: false,
              },
            },
            definitions: { n: { type: 'integer' } },
          },
        },
      },
    });
    const ui = JSON.parse(defs.choices[0]?.message.content ?? '') as { root: { label: unknown; children: unknown }; count: unknown };
    expect(typeof ui.root.label).toBe('string');
    expect(Array.isArray(ui.root.children)).toBe(true);
    expect(Number.isInteger(ui.count)).toBe(true);
  });

  it('answers logprobs and top_logprobs as OpenAI does (the mock said null), streamed too', async () => {
    const res = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hello there' }],
      logprobs: true,
      top_logprobs: 2,
    });
    const choice = res.choices[0];
    const content = choice?.logprobs?.content ?? [];
    expect(content.length).toBeGreaterThan(0);
    expect(content.map((t) => t.token).join('')).toBe(choice?.message.content);
    for (const t of content) {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.bytes).toEqual([...Buffer.from(t.token)]);
      expect(t.top_logprobs).toHaveLength(2);
      expect(t.top_logprobs[0]?.token).toBe(t.token);
    }
    const plain = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    expect(plain.choices[0]?.logprobs).toBeNull();

    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hello there' }],
      logprobs: true,
      stream: true,
    });
    let text = '';
    let tokens = '';
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      text += c?.delta.content ?? '';
      for (const t of c?.logprobs?.content ?? []) {
        tokens += t.token;
        expect(t.top_logprobs).toEqual([]);
      }
    }
    expect(tokens).toBe(text);
    expect(text.length).toBeGreaterThan(0);

    const legacy = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon', max_tokens: 5, logprobs: 2 });
    const lp = legacy.choices[0]?.logprobs;
    expect(lp?.tokens?.join('')).toBe(legacy.choices[0]?.text);
    expect(lp?.token_logprobs).toHaveLength(lp?.tokens?.length ?? -1);
    expect(Object.keys(lp?.top_logprobs?.[0] ?? {}).length).toBeGreaterThanOrEqual(1);
    expect(lp?.text_offset).toHaveLength(lp?.tokens?.length ?? -1);
  });

  it('passes unknown request fields through to the provider untouched', async () => {
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
      // @ts-expect-error a vendor extension the SDK does not know
      vendor_extension: { nested: [1, 'two', { three: true }] },
    });
    const last = gw.mock?.requests.at(-1);
    expect(last?.body).toMatchObject({ vendor_extension: { nested: [1, 'two', { three: true }] } });
    // The client's gateway key is never forwarded upstream.
    expect(JSON.stringify(last?.headers)).not.toContain(DEMO_KEY);
  });
});

describe('completions, embeddings, models', () => {
  it('serves legacy completions, streaming too', async () => {
    const res = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon', max_tokens: 5 });
    expect(res.object).toBe('text_completion');
    expect(res.choices[0]?.text.length).toBeGreaterThan(0);
    const stream = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once', stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text.length).toBeGreaterThan(0);
  });

  it('serves embeddings in the SDK default (base64) and float encodings', async () => {
    const b64 = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    expect(b64.data).toHaveLength(2);
    expect(b64.data[0]?.embedding).toHaveLength(1536);
    const float = await client.embeddings.create({
      model: 'text-embedding-3-small',
      input: 'a',
      encoding_format: 'float',
      dimensions: 8,
    });
    expect(float.data[0]?.embedding).toHaveLength(8);
    const norm = Math.hypot(...(float.data[0]?.embedding ?? []));
    expect(norm).toBeCloseTo(1, 3);
  });

  it('lists and retrieves models', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(expect.arrayContaining(['gpt-4o-mini', 'text-embedding-3-small']));
    const one = await client.models.retrieve('gpt-4o');
    expect(one).toMatchObject({ id: 'gpt-4o', object: 'model' });
  });

  it('rejects the wrong operation for a model kind with a BadRequestError', async () => {
    await expect(
      client.embeddings.create({ model: 'gpt-4o-mini', input: 'x' }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe('errors raise the SDK typed errors', () => {
  it('AuthenticationError for a wrong key', async () => {
    const bad = new OpenAI({ apiKey: 'ghk_nothere0_' + 'x'.repeat(40), baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await expect(bad.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('NotFoundError for an unknown model', async () => {
    const err = await client.chat.completions
      .create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    await expect(client.models.retrieve('no-such-model')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('BadRequestError with the parameter named for a wrong type', async () => {
    const err = await client.chat.completions
      // @ts-expect-error deliberately wrong type
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], n: 'two' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('n');
  });

  it('RateLimitError with Retry-After when the upstream answers 429', async () => {
    const err = await client.chat.completions
      .create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
        // @ts-expect-error mock control field, passed through by the gateway
        mock: { errorRate: 1, errorStatus: 429 },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after')).toBeTruthy();
  });

  it('InternalServerError (502 in the envelope) when the upstream fails', async () => {
    const err = await client.chat.completions
      .create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'x' }],
        // @ts-expect-error mock control field
        mock: { errorRate: 1, errorStatus: 500 },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(502);
    expect((err as InstanceType<typeof OpenAI.InternalServerError>).type).toBe('upstream_error');
  });
});
