/** The request-log stages and the response tap, on hand-built contexts (no server, no store). */
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { newCapture, tapBody } from '../../../src/logs/capture.js';
import { pendingLog } from '../../../src/logs/entry.js';
import type { LogPolicy } from '../../../src/logs/settings.js';
import type { LogOutcome } from '../../../src/logs/writer.js';
import type { Finisher } from '../../../src/pipeline/context.js';
import { logCapture, logQuotaOf, logRequest, optedOut } from '../../../src/pipeline/request-log.js';
import { failure, makeContext, makePrincipal, makeTenant } from '../pipeline/fixtures.js';

async function drain(s: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const c of s) out += String(c);
  return out;
}

function logs(policy: LogPolicy | undefined) {
  const counted: LogOutcome[] = [];
  const finish: Finisher = () => {};
  return {
    counted,
    deps: {
      policies: { peek: () => policy, get: async () => policy, forget: () => {}, reload: async () => {} },
      writer: { offer: () => true, flush: async () => {}, count: (o: LogOutcome) => void counted.push(o), stats: () => ({ queued: 0, queuedBytes: 0, written: 0, dropped: 0 }), close: async () => {} },
      finish,
    },
  };
}

describe('tapBody', () => {
  it('passes everything through and keeps a prefix of at most maxBytes, flagged when cut', async () => {
    const src = new PassThrough();
    const kept = newCapture();
    const tap = tapBody(src, 8, kept);
    src.write('01234');
    src.write('56789');
    src.end('abc');
    expect(await drain(tap)).toBe('0123456789abc');
    expect(Buffer.concat(kept.chunks).toString()).toBe('01234567');
    expect(kept).toMatchObject({ bytes: 8, truncated: true, complete: true });
  });

  it('a source cut mid-way keeps what passed, is not complete, and the reader sees the failure', async () => {
    const src = new PassThrough();
    const kept = newCapture();
    const tap = tapBody(src, 100, kept);
    src.write('partial');
    await new Promise((r) => setImmediate(r));
    src.destroy();
    await expect(drain(tap)).rejects.toThrow();
    expect(Buffer.concat(kept.chunks).toString()).toBe('partial');
    expect(kept.complete).toBe(false);
  });
});

describe('logRequest / logCapture stages', () => {
  const tenant = makeTenant('acme', {
    limits: {
      plan: null,
      weight: 1,
      timeZone: 'UTC',
      budgetAction: 'reject',
      rules: [
        { id: 'a', scope: 'tenant', subject: null, metric: 'log_bytes', window: null, limit: 5000, burst: null, models: null },
        { id: 'b', scope: 'tenant', subject: null, metric: 'log_bytes', window: null, limit: 3000, burst: null, models: null },
        { id: 'c', scope: 'tenant', subject: null, metric: 'cache_bytes', window: null, limit: 1, burst: null, models: null },
      ],
    },
  });

  it('a tenant that logs gets a capture and the finisher; the tightest log_bytes limit is its quota', () => {
    const l = logs({ enabled: true, content: true, retentionDays: 30 });
    const ctx = makeContext({ fields: { tenant, principal: makePrincipal(tenant) } });
    logRequest(l.deps)(ctx);
    expect(ctx.requestLog).toEqual({ content: true, quotaBytes: 3000 });
    expect(ctx.finishers).toHaveLength(1);
    expect(logQuotaOf(makeTenant('none'))).toBeUndefined();
  });

  it('nothing for a tenant not logging or not loaded yet; an opt-out is counted', () => {
    for (const policy of [undefined, { enabled: false, content: false, retentionDays: 30 }]) {
      const ctx = makeContext({ fields: { tenant } });
      logRequest(logs(policy).deps)(ctx);
      expect(ctx.requestLog).toBeUndefined();
      expect(ctx.finishers).toBeUndefined();
    }
    const l = logs({ enabled: true, content: false, retentionDays: 30 });
    const ctx = makeContext({ headers: { 'x-gatehouse-log': 'OFF' }, fields: { tenant } });
    logRequest(l.deps)(ctx);
    expect(ctx.requestLog).toBeUndefined();
    expect(l.counted).toEqual(['opted_out']);
  });

  it('a malformed x-gatehouse-log is a 400, for every tenant', async () => {
    expect(optedOut(undefined)).toBe(false);
    expect(optedOut(' on ')).toBe(false);
    const err = await failure(() => logRequest(logs(undefined).deps)(makeContext({ headers: { 'x-gatehouse-log': 'nope' }, fields: { tenant } })));
    expect(err.code).toBe('invalid_request');
    expect(err.param).toBe('x-gatehouse-log');
  });

  it('the capture stage taps the upstream body only when content is logged', async () => {
    const ctx = makeContext({ fields: { tenant } });
    ctx.requestLog = { content: true, quotaBytes: undefined };
    const body = Readable.from([Buffer.from('{"ok":true}')]);
    ctx.upstream = { status: 200, headers: {}, body, usage: Promise.resolve(undefined) };
    logCapture(1024)(ctx);
    expect(ctx.upstream.body).not.toBe(body);
    expect(await drain(ctx.upstream.body)).toBe('{"ok":true}');
    expect(ctx.requestLog.response).toMatchObject({ bytes: 11, complete: true });

    const meta = makeContext({ fields: { tenant } });
    meta.requestLog = { content: false, quotaBytes: undefined };
    const plain = Readable.from(['x']);
    meta.upstream = { status: 200, headers: {}, body: plain, usage: Promise.resolve(undefined) };
    logCapture(1024)(meta);
    expect(meta.upstream.body).toBe(plain);
  });

  it('the finished entry carries metadata, provider usage and references to the content', () => {
    const principal = makePrincipal(tenant, { keyId: '11111111-1111-4111-8111-111111111111', teamId: 'not-a-uuid' });
    const ctx = makeContext({ headers: { 'content-length': '40' }, fields: { tenant, principal, body: { model: 'gpt-4o-mini', stream: true, user: 'u-1' } } });
    ctx.operation = 'chat';
    const capture = { content: true, quotaBytes: 99, response: { ...newCapture(), chunks: [Buffer.from('abc')], bytes: 3, complete: true } };
    const e = pendingLog(ctx, { status: 200, usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7, cachedTokens: 0 }, clientAborted: false, upstreamMs: 1 }, capture, 1_000_000, ctx.startedAt + 5_000_000n);
    expect(e).toMatchObject({
      tenantId: tenant.id,
      occurredAt: 1_000_000 - 5,
      latencyMs: 5,
      keyId: '11111111-1111-4111-8111-111111111111',
      teamId: null,
      endUser: 'u-1',
      operation: 'chat',
      status: 200,
      inputTokens: 3,
      outputTokens: 4,
      streamed: true,
      quotaBytes: 99,
      heldBytes: 512 + 40 + 3,
    });
    expect(e?.content?.body).toBe(ctx.body);
    expect(e?.content?.response?.capture).toBe(capture.response);
    expect(pendingLog(makeContext(), { status: 401, usage: undefined, clientAborted: false, upstreamMs: undefined }, capture, 0, 0n)).toBeUndefined();
  });
});
