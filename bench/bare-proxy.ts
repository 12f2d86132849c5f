/**
 * The baseline every bench ratio is measured against: the least a Node.js JSON proxy can do.
 * Per request: read the body, JSON.parse + JSON.stringify it (a gateway must look inside the
 * body, so the baseline pays for that too), forward with an undici Pool, pipe status,
 * content-type and body back. Nothing else: no auth, no logging, no metrics.
 *
 *   node dist/bench/bare-proxy.js --port 8081 --upstream http://127.0.0.1:8090
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8081' },
    host: { type: 'string', default: '127.0.0.1' },
    upstream: { type: 'string' },
  },
});
if (values.upstream === undefined) throw new Error('--upstream <origin> is required');

const pool = new Pool(values.upstream, { keepAliveTimeout: 60_000 });

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: string;
  try {
    body = JSON.stringify(JSON.parse(await readBody(req)));
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"bad json"}}');
    return;
  }
  const upstream = await pool.request({
    method: 'POST',
    path: req.url ?? '/',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const headers: Record<string, string> = { 'content-type': String(upstream.headers['content-type'] ?? 'application/json') };
  // Passing the length on lets node:http skip chunked framing for ordinary JSON answers.
  const length = upstream.headers['content-length'];
  if (typeof length === 'string') headers['content-length'] = length;
  res.writeHead(upstream.statusCode, headers);
  // .pipe() rather than stream.pipeline(): on Node 20 pipeline() allocates an AbortController per
  // call and aborts it on completion, building a DOMException with a stack trace each time
  // (~10% of this proxy's CPU in a profile). SSE chunks still pass through as they arrive.
  const upstreamBody = upstream.body;
  upstreamBody.once('error', () => res.destroy());
  res.once('close', () => upstreamBody.destroy());
  upstreamBody.pipe(res);
}

const server = createServer((req, res) => {
  handle(req, res).catch(() => {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), values.host);
process.once('SIGTERM', () => {
  server.close();
  void pool.close();
  server.closeAllConnections();
});
