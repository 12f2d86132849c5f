import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseBody } from '../../../src/pipeline/body.js';
import type { Endpoint } from '../../../src/pipeline/context.js';
import { failure, makeContext, streamOf } from './fixtures.js';

const MAX = 64;
const stage = parseBody({ maxBytes: MAX });
const JSON_TYPE = { 'content-type': 'application/json' };

function ctxFor(body: string | readonly (string | Buffer)[], headers: IncomingHttpHeaders = JSON_TYPE, endpoint?: Endpoint) {
  return makeContext({ headers, endpoint, req: streamOf(typeof body === 'string' ? [body] : body) });
}

async function parsed(body: string, headers: IncomingHttpHeaders = JSON_TYPE, endpoint?: Endpoint) {
  const ctx = ctxFor(body, headers, endpoint);
  await stage(ctx);
  return ctx;
}

describe('parseBody stage: content type', () => {
  it.each(['application/json', 'application/json; charset=utf-8', 'Application/JSON ; charset=UTF-8', 'application/vnd.foo+json'])(
    'accepts %j',
    async (type) => {
      const ctx = await parsed('{"model":"m"}', { 'content-type': type });
      expect(ctx.model).toBe('m');
    },
  );

  it.each([['text/plain'], ['application/x-www-form-urlencoded'], ['text/json+json'], [undefined]])(
    'rejects %j with unsupported_media_type 415',
    async (type) => {
      const headers: IncomingHttpHeaders = type === undefined ? {} : { 'content-type': type };
      const err = await failure(() => stage(ctxFor('{"model":"m"}', headers)));
      expect([err.code, err.status]).toEqual(['unsupported_media_type', 415]);
    },
  );
});

describe('parseBody stage: size', () => {
  it('rejects a declared Content-Length over the limit with 413 without reading the body', async () => {
    let reads = 0;
    const req = new Readable({
      read() {
        reads += 1;
        this.push(null);
      },
    }) as unknown as IncomingMessage;
    const ctx = makeContext({ headers: { ...JSON_TYPE, 'content-length': String(MAX + 1) }, req });
    const err = await failure(() => stage(ctx));
    expect([err.code, err.status]).toEqual(['payload_too_large', 413]);
    expect(err.headers.connection).toBe('close');
    await new Promise((resolve) => setImmediate(resolve));
    expect(reads).toBe(0);
  });

  it('accepts a body of exactly the limit', async () => {
    const body = `{"model":"m","pad":"${'x'.repeat(MAX - 22)}"}`;
    expect(Buffer.byteLength(body)).toBe(MAX);
    await expect(parsed(body, { ...JSON_TYPE, 'content-length': String(MAX) })).resolves.toBeDefined();
  });

  it('rejects a streamed body that grows past the limit, declared or not', async () => {
    const chunks = ['{"model":"m","pad":"', 'x'.repeat(40), 'x'.repeat(40), '"}'];
    const undeclared = await failure(() => stage(ctxFor(chunks)));
    expect([undeclared.code, undeclared.status]).toEqual(['payload_too_large', 413]);
    const understated = await failure(() => stage(ctxFor(chunks, { ...JSON_TYPE, 'content-length': '10' })));
    expect(understated.code).toBe('payload_too_large');
  });

  it('joins a body that arrives in several chunks', async () => {
    const ctx = makeContext({ headers: JSON_TYPE, req: streamOf(['{"mod', 'el":"m', '","x":1}']) });
    await stage(ctx);
    expect(ctx.body).toEqual({ model: 'm', x: 1 });
  });
});

describe('parseBody stage: model and stream', () => {
  it('sets body and model, keeping unknown fields', async () => {
    const ctx = await parsed('{"model":"gpt-mini","messages":[],"vendor_x":{"a":1}}');
    expect(ctx.model).toBe('gpt-mini');
    expect(ctx.body).toEqual({ model: 'gpt-mini', messages: [], vendor_x: { a: 1 } });
  });

  it('takes the model from the path for predict, over the body', async () => {
    const endpoint: Endpoint = { op: 'predict', modelFromPath: 'from-path' };
    expect((await parsed('{"model":"from-body"}', JSON_TYPE, endpoint)).model).toBe('from-path');
    expect((await parsed('{"input":"x"}', JSON_TYPE, endpoint)).model).toBe('from-path');
  });

  it('rejects a missing model with missing_model 400', async () => {
    const err = await failure(() => stage(ctxFor('{"messages":[]}')));
    expect([err.code, err.status, err.param]).toEqual(['missing_model', 400, 'model']);
  });

  it.each(['{"model":""}', '{"model":42}', '{"model":null}', '{"model":["m"]}', `{"model":"${'m'.repeat(257)}"}`])(
    'rejects the invalid model in %s',
    async (body) => {
      const err = await failure(() => parseBody({ maxBytes: 1024 })(ctxFor(body)));
      expect([err.code, err.status, err.param]).toEqual(['invalid_request', 400, 'model']);
    },
  );

  it('accepts a boolean or null stream and rejects any other type', async () => {
    for (const s of ['true', 'false', 'null']) expect((await parsed(`{"model":"m","stream":${s}}`)).model).toBe('m');
    for (const s of ['"true"', '1', '{}']) {
      const err = await failure(() => stage(ctxFor(`{"model":"m","stream":${s}}`)));
      expect([err.code, err.param]).toEqual(['invalid_request', 'stream']);
    }
  });

  it('rejects a body that is not a JSON object', async () => {
    for (const body of ['', '[]', '{"model":']) {
      const err = await failure(() => stage(ctxFor(body)));
      expect([err.code, err.status]).toEqual(['invalid_json', 400]);
    }
  });
});
