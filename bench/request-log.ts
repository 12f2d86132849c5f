/**
 * `node dist/bench/run.js request-log`: what the request log costs per request, in process CPU,
 * in-process and without HTTP (so the figure is not lost in the noise of a shared machine): the
 * same request context run through the log stages, its answer piped to a sink the way the server
 * pipes it, and its finishers run, against the same work without the log. Three cases per answer
 * shape (one JSON chunk; a 60-chunk SSE stream): no log stages (baseline), a tenant that does not
 * log, metadata only, content. A
 * fourth figure is the background writer's CPU per entry before the database (content text,
 * stream assembly, JSON, AES-GCM sealing), which runs off the request's critical section.
 *
 *   node dist/bench/run.js request-log [--requests 20000] [--rounds 3]
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { buildContent } from '../src/logs/content.js';
import { pendingLog, type PendingLog } from '../src/logs/entry.js';
import type { LogPolicy } from '../src/logs/settings.js';
import { createLogWriter } from '../src/logs/writer.js';
import { addFinisher, type Finisher, type RequestContext, type RequestOutcome } from '../src/pipeline/context.js';
import { logCapture, logRequest } from '../src/pipeline/request-log.js';
import { Cancellation } from '../src/providers/cancel.js';
import type { Store } from '../src/store/index.js';
import type { Tenant } from '../src/tenancy/types.js';

const log = (line: string) => process.stdout.write(`${line}\n`);

const TENANT: Tenant = { id: '00000000-0000-4000-8000-00000000beef', slug: 'bench', name: 'bench', status: 'active', domains: [], allowedModels: '*', regions: [] };
const BODY = { model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say something about benchmarks, briefly. '.repeat(8) }] };
const JSON_ANSWER = [Buffer.from(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'word '.repeat(100) }, finish_reason: 'stop' }], usage: { prompt_tokens: 60, completion_tokens: 100, total_tokens: 160 } }))];
const SSE_ANSWER = Array.from({ length: 60 }, (_, i) =>
  Buffer.from(`data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content: `w${i} ` }, finish_reason: i === 59 ? 'stop' : null }] })}\n\n`),
).concat([Buffer.from('data: [DONE]\n\n')]);

/** none: no log stages (main); idle: the stages for a tenant that does not log. */
type Mode = 'none' | 'idle' | 'metadata' | 'content';

function context(stream: boolean): RequestContext {
  return {
    requestId: 'req-bench',
    startedAt: process.hrtime.bigint(),
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'content-length': '400' },
    remoteAddress: '127.0.0.1',
    endpoint: { op: 'chat' },
    pathTenant: undefined,
    signal: new Cancellation(),
    req: Readable.from([]) as unknown as RequestContext['req'],
    tenant: TENANT,
    principal: { kind: 'api_key', keyId: '11111111-1111-4111-8111-111111111111', tenantId: TENANT.id, teamId: null, scopes: ['inference'], allowedModels: null },
    body: stream ? { ...BODY, stream: true } : BODY,
    operation: 'chat',
  };
}

const OUTCOME: RequestOutcome = { status: 200, usage: { promptTokens: 60, completionTokens: 100, totalTokens: 160, cachedTokens: 0 }, clientAborted: false, upstreamMs: 1 };
const noop: Finisher = () => {};

/** One request: stages, the answer piped to a sink, finishers. What the server does around the log. */
async function one(mode: Mode, stream: boolean, stages: { request: (ctx: RequestContext) => void; capture: (ctx: RequestContext) => void }): Promise<void> {
  const ctx = context(stream);
  addFinisher(ctx, noop); // the request already has finishers (metrics, admission) without the log
  if (mode !== 'none') stages.request(ctx);
  ctx.upstream = { status: 200, headers: { 'content-type': 'application/json' }, body: Readable.from(stream ? SSE_ANSWER : JSON_ANSWER, { objectMode: false }), usage: Promise.resolve(OUTCOME.usage) };
  if (mode !== 'none') stages.capture(ctx);
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  await new Promise<void>((resolve) => {
    sink.once('finish', resolve);
    ctx.upstream?.body.pipe(sink);
  });
  for (const f of ctx.finishers ?? []) f(OUTCOME, ctx);
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

const sealer = { seal: async () => ({ ciphertext: Buffer.alloc(0), keyVersion: 1 }), sealMany: async () => [], open: async () => Buffer.alloc(0) };

/** A writer that never writes during the timing (its timer is far away); a fresh one per run. */
function idleWriter() {
  return createLogWriter({ store: {} as Pick<Store, 'withTenant'>, sealer, maxEntryBytes: 65536, maxQueued: 10_000_000, maxQueuedBytes: 2 ** 40, batchSize: 10_000_000, intervalMs: 2 ** 30 });
}

/** The log stages for a tenant whose policy is `mode`, with the finisher src/logs/index.ts registers. */
function stagesFor(mode: Mode, writer: ReturnType<typeof idleWriter>, sample: PendingLog[]) {
  const policy: LogPolicy = { enabled: mode === 'metadata' || mode === 'content', content: mode === 'content', retentionDays: 30 };
  const finish: Finisher = (outcome, ctx) => {
    const capture = ctx.requestLog;
    if (capture === undefined) return;
    const entry = pendingLog(ctx, outcome, capture, Date.now(), process.hrtime.bigint());
    if (entry === undefined) return;
    writer.offer(entry);
    if (entry.content !== undefined && sample.length < 10) sample.push(entry);
  };
  const deps = { policies: { peek: () => policy, get: async () => policy, forget: () => {}, reload: async () => {} }, writer, finish };
  return { request: logRequest(deps), capture: logCapture(256 * 1024) };
}

export async function requestLogBench(argv: string[]): Promise<void> {
  let requests = 20_000;
  let rounds = 3;
  for (let i = 0; i < argv.length; i++) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--requests' && Number.isInteger(v) && v > 0) requests = v;
    else if (argv[i] === '--rounds' && Number.isInteger(v) && v > 0) rounds = v;
    else if (argv[i] === '--quick') requests = 4000;
  }
  log(`request-log bench: ${requests} requests per case, best of ${rounds} rounds, Node ${process.version}`);
  const samples: Record<'json' | 'sse', PendingLog[]> = { json: [], sse: [] };
  const rows: string[] = [];
  for (const stream of [false, true]) {
    const best: Record<Mode, number> = { none: Infinity, idle: Infinity, metadata: Infinity, content: Infinity };
    for (let r = 0; r < rounds; r++) {
      for (const mode of ['none', 'idle', 'metadata', 'content'] as const) {
        const writer = idleWriter();
        const stages = stagesFor(mode, writer, samples[stream ? 'sse' : 'json']);
        for (let i = 0; i < 500; i++) await one(mode, stream, stages); // warm up
        const start = cpuUs();
        for (let i = 0; i < requests; i++) await one(mode, stream, stages);
        best[mode] = Math.min(best[mode], (cpuUs() - start) / requests);
      }
    }
    const shape = stream ? 'SSE, 60 chunks' : 'JSON, 1 chunk';
    const added = (m: Mode) => `${best[m] - best.none >= 0 ? '+' : ''}${(best[m] - best.none).toFixed(1)}`;
    rows.push(`| ${shape} | ${best.none.toFixed(1)} | ${added('idle')} | ${added('metadata')} | ${added('content')} |`);
  }

  // The background writer's CPU per entry before the database: content text, assembly, sealing.
  const key = randomBytes(32);
  const background: string[] = [];
  for (const stream of [false, true]) {
    const content = samples[stream ? 'sse' : 'json'].find((e) => e.content !== undefined)?.content;
    if (content === undefined) continue;
    let bestUs = Infinity;
    const n = Math.max(1000, Math.floor(requests / 4));
    for (let r = 0; r < rounds; r++) {
      const start = cpuUs();
      for (let i = 0; i < n; i++) {
        const plain = Buffer.from(JSON.stringify(buildContent(content, 65536)), 'utf8');
        const c = createCipheriv('aes-256-gcm', key, randomBytes(12), { authTagLength: 16 });
        Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
      }
      bestUs = Math.min(bestUs, (cpuUs() - start) / n);
    }
    background.push(`| ${stream ? 'SSE, 60 chunks' : 'JSON, 1 chunk'} | ${bestUs.toFixed(1)} |`);
  }

  log('\nOn the request path, CPU µs per request (log columns: added over the baseline):\n');
  log('| answer | no log stages (pipe + finishers) | tenant not logging | metadata only | content |');
  log('|---|---|---|---|---|');
  for (const line of rows) log(line);
  log('\nIn the background writer, CPU µs per entry before the database:\n');
  log('| answer | content text + stream assembly + JSON + AES-GCM |');
  log('|---|---|');
  for (const line of background) log(line);
}
