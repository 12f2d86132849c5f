/**
 * bare-proxy.ts with the global `fetch` in place of an undici Pool, for compare-servers.ts
 * only: DESIGN §10 records that fetch on Node 20 costs several times the CPU per request, and
 * this keeps that claim re-checkable.
 *
 *   node dist/bench/fetch-proxy.js --port 8082 --upstream http://127.0.0.1:8090
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8082' },
    host: { type: 'string', default: '127.0.0.1' },
    upstream: { type: 'string' },
  },
});
const upstreamOrigin = values.upstream;
if (upstreamOrigin === undefined) throw new Error('--upstream <origin> is required');

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
  const upstream = await fetch(upstreamOrigin + (req.url ?? '/'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
  if (upstream.body !== null) {
    for await (const chunk of upstream.body) {
      if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
    }
  }
  res.end();
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
  server.closeAllConnections();
});
