/**
 * Starting the processes under test, each from the compiled tree this file lives in
 * (dist/bench/lib → dist/), so the bench always measures the code that was just built.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort, startChild, waitForHttp200, waitForPort, type Child } from './children.js';
import { MODEL, type Target } from './target.js';

const DIST = fileURLToPath(new URL('../../', import.meta.url));
export const MOCK_MAIN = join(DIST, 'src/providers/mock/main.js');
export const GATEHOUSE_MAIN = join(DIST, 'src/cli/main.js');
// dist/src/cli/main.js exports main() and bin/gatehouse.js is what calls it (`npm start`), so
// the gateway is started through bin/ when it sits beside this dist/ (it only rebuilds when
// src/ is newer than the build, which `npm run bench` has just made).
const GATEHOUSE_BIN = join(DIST, '../bin/gatehouse.js');
const CHAT_PATH = '/v1/chat/completions';

export interface Started {
  child: Child;
  target: Target;
}

export async function startMock(workDir: string): Promise<Started> {
  if (!existsSync(MOCK_MAIN)) throw new Error(`mock provider not built: ${MOCK_MAIN} is missing`);
  const port = await freePort();
  const child = startChild({ name: 'mock upstream', script: MOCK_MAIN, args: ['--port', String(port)], logFile: join(workDir, 'mock.log') });
  await waitForPort(child, port, 15_000);
  const target: Target = { name: 'direct', label: 'upstream direct', origin: `http://127.0.0.1:${port}`, path: CHAT_PATH, headers: {}, pid: child.pid };
  return { child, target };
}

/** bare-proxy.js (undici Pool) or fetch-proxy.js, in front of the mock. */
export async function startProxy(workDir: string, upstream: string, kind: 'bare' | 'fetch', nodeArgs: string[] = []): Promise<Started> {
  const port = await freePort();
  const script = fileURLToPath(new URL(kind === 'bare' ? '../bare-proxy.js' : '../fetch-proxy.js', import.meta.url));
  const child = startChild({ name: `${kind} proxy`, script, nodeArgs, args: ['--port', String(port), '--upstream', upstream], logFile: join(workDir, `${kind}-proxy.log`) });
  await waitForPort(child, port, 15_000);
  const label = kind === 'bare' ? 'bare proxy (http+undici Pool)' : 'http+fetch proxy';
  return { child, target: { name: kind, label, origin: `http://127.0.0.1:${port}`, path: CHAT_PATH, headers: {}, pid: child.pid } };
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A key in the gateway's own format (`ghk_` + 8 + `_` + 40 base62), so lookups take the usual path. */
function benchKey(): string {
  const pick = (n: number) => Array.from(randomBytes(n), (b) => BASE62[b % 62] ?? '0').join('');
  return `ghk_${pick(8)}_${pick(40)}`;
}

export type GatehouseStart = { ok: true; started: Started } | { ok: false; reason: string; child?: Child };

/**
 * The gateway as it ships (`gatehouse start`), configured by a YAML file: one openai-compatible
 * provider pointing at the mock, one deployment, and the demo tenant holding our key.
 */
export async function startGatehouse(workDir: string, upstream: string, streamsWanted: number, nodeArgs: string[] = []): Promise<GatehouseStart> {
  const key = benchKey();
  const config = {
    server: { host: '127.0.0.1', shutdownGraceMs: 1000 },
    logLevel: 'warn',
    providers: [{ name: 'upstream', kind: 'openai-compatible', baseUrl: `${upstream}/v1`, apiKey: 'bench-upstream-key' }],
    // Capacity above the concurrent-stream count, so that check measures streaming, not queueing.
    deployments: [{ model: MODEL, provider: 'upstream', capacity: Math.max(1024, streamsWanted * 2) }],
  };
  return launchGatehouse(workDir, config, { GATEHOUSE_DEMO_KEY: key }, key, nodeArgs);
}

/**
 * Tenants for a gateway started with startGatehouseFor: each gets one key in the gateway's own
 * format. Returns the keys by slug.
 */
export function benchTenants(slugs: readonly string[]): { yaml: Record<string, unknown>[]; keys: Map<string, string> } {
  const keys = new Map(slugs.map((s) => [s, benchKey()]));
  const yaml = slugs.map((slug) => ({ slug, keys: [{ name: 'bench', value: keys.get(slug) }] }));
  return { yaml, keys };
}

/**
 * The gateway as it ships with a configuration of the caller's (merged over a quiet server
 * section); the returned target carries no key: callers set `authorization` per tenant.
 */
export async function startGatehouseFor(workDir: string, config: Record<string, unknown>, nodeArgs: string[] = []): Promise<GatehouseStart> {
  const full = { server: { host: '127.0.0.1', shutdownGraceMs: 1000 }, logLevel: 'warn', ...config };
  return launchGatehouse(workDir, full, { GATEHOUSE_DEMO: 'false' }, undefined, nodeArgs);
}

async function launchGatehouse(
  workDir: string,
  config: Record<string, unknown>,
  env: Record<string, string>,
  key: string | undefined,
  nodeArgs: string[],
): Promise<GatehouseStart> {
  if (!existsSync(GATEHOUSE_MAIN)) return { ok: false, reason: `CLI not built (${GATEHOUSE_MAIN} missing)` };
  const port = await freePort();
  const configFile = join(workDir, 'gatehouse.yaml');
  await writeFile(configFile, stringify(config));
  const child = startChild({
    name: 'gatehouse',
    script: existsSync(GATEHOUSE_BIN) ? GATEHOUSE_BIN : GATEHOUSE_MAIN,
    args: ['start'],
    nodeArgs,
    env: {
      GATEHOUSE_CONFIG: configFile,
      GATEHOUSE_PORT: String(port),
      GATEHOUSE_DATA_DIR: join(workDir, 'gatehouse-data'),
      GATEHOUSE_LOG_LEVEL: 'warn',
      ...env,
    },
    logFile: join(workDir, 'gatehouse.log'),
  });
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp200(child, `${origin}/readyz`, 60_000);
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err), child };
  }
  const headers: Record<string, string> = key === undefined ? {} : { authorization: `Bearer ${key}` };
  const target: Target = { name: 'gatehouse', label: 'gatehouse', origin, path: CHAT_PATH, headers, pid: child.pid };
  return { ok: true, started: { child, target } };
}
