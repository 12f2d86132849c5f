/**
 * Sequential probes with µs resolution: one request in flight at a time, targets interleaved
 * request by request (rotating which goes first), so a burst of machine noise lands on every
 * target alike instead of on whichever happened to run during it. Each target has its own
 * keep-alive connection, so no request pays for a TCP handshake.
 */
import { Client } from 'undici';
import { timedStream, type StreamStats } from './sse.js';
import { rotate } from './stats.js';
import type { Target, TargetName } from './target.js';

export interface ProbeResult {
  samplesUs: Map<TargetName, number[]>;
  failures: Map<TargetName, number>;
}

function clients(targets: readonly Target[]): Map<TargetName, Client> {
  return new Map(targets.map((t) => [t.name, new Client(t.origin, { pipelining: 1, keepAliveTimeout: 60_000 })]));
}

async function closeAll(map: Map<TargetName, Client>): Promise<void> {
  await Promise.all([...map.values()].map((c) => c.close()));
}

function emptyResult(targets: readonly Target[]): ProbeResult {
  return {
    samplesUs: new Map(targets.map((t) => [t.name, []])),
    failures: new Map(targets.map((t) => [t.name, 0])),
  };
}

function record(result: ProbeResult, name: TargetName, ok: boolean, us: number, keep: boolean): void {
  if (!ok) result.failures.set(name, (result.failures.get(name) ?? 0) + 1);
  else if (keep) result.samplesUs.get(name)?.push(us);
}

/** Full request → full response body time of a small non-streaming completion. */
export async function latencyProbe(targets: readonly Target[], body: string, samples: number, warmup: number): Promise<ProbeResult> {
  const pool = clients(targets);
  const result = emptyResult(targets);
  try {
    for (let i = 0; i < warmup + samples; i += 1) {
      for (const target of rotate(targets, i)) {
        const client = pool.get(target.name);
        if (client === undefined) continue;
        const t0 = process.hrtime.bigint();
        try {
          const res = await client.request({
            path: target.path,
            method: 'POST',
            headers: { 'content-type': 'application/json', ...target.headers },
            body,
          });
          await res.body.arrayBuffer();
          const us = Number(process.hrtime.bigint() - t0) / 1000;
          record(result, target.name, res.statusCode === 200, us, i >= warmup);
        } catch {
          // A reset connection is a failed sample, not the end of the bench; the client reconnects.
          record(result, target.name, false, 0, i >= warmup);
        }
      }
    }
  } finally {
    await closeAll(pool);
  }
  return result;
}

export interface StreamProbeResult extends ProbeResult {
  /** Content deltas per stream seen on each target (should be equal everywhere). */
  contentEvents: Map<TargetName, number[]>;
  missingDone: Map<TargetName, number>;
}

/** Time to first body byte of a streaming completion. */
export async function ttfbProbe(targets: readonly Target[], body: string, samples: number, warmup: number): Promise<StreamProbeResult> {
  const pool = clients(targets);
  const base = emptyResult(targets);
  const result: StreamProbeResult = {
    ...base,
    contentEvents: new Map(targets.map((t) => [t.name, []])),
    missingDone: new Map(targets.map((t) => [t.name, 0])),
  };
  try {
    for (let i = 0; i < warmup + samples; i += 1) {
      for (const target of rotate(targets, i)) {
        const client = pool.get(target.name);
        if (client === undefined) continue;
        const keep = i >= warmup;
        let stats: StreamStats;
        try {
          stats = await timedStream(client, target, body);
        } catch {
          record(result, target.name, false, 0, keep);
          continue;
        }
        record(result, target.name, stats.status === 200, stats.ttfbUs, keep);
        if (keep && stats.status === 200) {
          result.contentEvents.get(target.name)?.push(stats.contentEvents);
          if (!stats.done) result.missingDone.set(target.name, (result.missingDone.get(target.name) ?? 0) + 1);
        }
      }
    }
  } finally {
    await closeAll(pool);
  }
  return result;
}
