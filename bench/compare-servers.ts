/**
 * Which HTTP stack should the gateway's hot path use? The same load through proxies that
 * differ only in the stack, reported as throughput and CPU per request (the noise-robust
 * figure). Reference: node:http + undici Pool (bare-proxy.ts). fastify is not installed in
 * this repo, so it is not measured here; DESIGN §10 records its figure.
 *
 *   node dist/bench/compare-servers.js [--quick] [--duration 10] [--connections 100] [--rounds 3]
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs } from './lib/args.js';
import { checkTarget } from './lib/check.js';
import { installCleanup, stopChild, type Child } from './lib/children.js';
import { aggregateLoad } from './lib/figures.js';
import { runLoad, type LoadResult } from './lib/load.js';
import { startMock, startProxy } from './lib/servers.js';
import { rotate } from './lib/stats.js';
import { fmt, markdownTable, textTable } from './lib/table.js';
import { chatBody, type Target } from './lib/target.js';

const log = (line: string) => process.stdout.write(`${line}\n`);

function fastifyInstalled(): boolean {
  return existsSync(fileURLToPath(new URL('../../node_modules/fastify/package.json', import.meta.url)));
}

async function main(): Promise<void> {
  const opts = parseBenchArgs(process.argv.slice(2));
  const workDir = await mkdtemp(join(tmpdir(), 'gatehouse-compare-'));
  const children: Child[] = [];
  const stopAll = async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    if (!opts.keep) await rm(workDir, { recursive: true, force: true });
  };
  installCleanup(stopAll);
  try {
    const mock = await startMock(workDir);
    children.push(mock.child);
    const undiciProxy = await startProxy(workDir, mock.target.origin, 'bare');
    const fetchProxy = await startProxy(workDir, mock.target.origin, 'fetch');
    children.push(undiciProxy.child, fetchProxy.child);
    const targets: Target[] = [undiciProxy.target, fetchProxy.target];
    const body = chatBody(16);
    for (const t of targets) {
      const problem = await checkTarget(t, body);
      if (problem !== undefined) throw new Error(`${t.label}: ${problem}`);
    }
    const spec = { connections: opts.connections, durationS: opts.duration, body };
    for (const t of targets) if (opts.warmup > 0) await runLoad(t, { ...spec, durationS: opts.warmup }, mock.child.pid, -1);
    const runs: LoadResult[] = [];
    for (let round = 0; round < opts.rounds; round += 1) {
      for (const t of rotate(targets, round)) {
        const r = await runLoad(t, spec, mock.child.pid, round);
        runs.push(r);
        log(`round ${round + 1}/${opts.rounds} ${t.label.padEnd(30)} ${r.rps.toFixed(0).padStart(6)} req/s  ${((r.cpuS / Math.max(1, r.ok)) * 1e6).toFixed(1)} µs/req`);
      }
    }
    const agg = aggregateLoad(runs);
    const ref = agg.get('bare');
    const header = ['stack', 'req/s', 'CPU µs/req', 'CPU / reference', 'req/s / reference', 'failed'];
    const rows = targets.map((t) => {
      const a = agg.get(t.name);
      return [t.label, fmt(a?.rps, 0), fmt(a?.cpuPerReqUs, 1), fmt(a !== undefined && ref !== undefined ? a.cpuPerReqUs / ref.cpuPerReqUs : null), fmt(a !== undefined && ref !== undefined ? a.rps / ref.rps : null), String(a?.failed ?? '—')];
    });
    rows.push(['node:http + fastify 5 + undici', '—', '—', '—', '—', fastifyInstalled() ? 'installed, not wired' : 'not installed']);
    const title = `Stack comparison: ${opts.connections} connections × ${opts.duration} s × ${opts.rounds} round(s), ${cpus().length} CPUs, ${process.version}`;
    log(`\n${title}\n${textTable(header, rows)}`);
    const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
    await mkdir(opts.outDir, { recursive: true });
    const md = join(opts.outDir, `compare-servers-${stamp}.md`);
    await writeFile(md, `# ${title}\n\n${markdownTable(header, rows)}\n`);
    await writeFile(join(opts.outDir, `compare-servers-${stamp}.json`), `${JSON.stringify({ options: opts, runs, aggregate: Object.fromEntries(agg) }, null, 2)}\n`);
    log(`wrote ${md}`);
  } finally {
    await stopAll();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`compare-servers failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
