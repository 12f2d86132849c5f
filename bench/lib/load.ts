/**
 * One autocannon run against one target, bracketed by /proc CPU readings of the target's
 * process and of the upstream. autocannon records latency in whole milliseconds, so its
 * percentiles serve the at-load figures only; sub-millisecond figures come from probe.ts.
 */
import autocannon from 'autocannon';
import { cpuSeconds } from './cpu.js';
import type { Target, TargetName } from './target.js';

export interface LoadSpec {
  connections: number;
  durationS: number;
  body: string;
}

export interface LoadResult {
  target: TargetName;
  round: number;
  durationS: number;
  /** Completed with a 2xx status. */
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  rps: number;
  /** autocannon latency percentiles, whole ms. */
  p50Ms: number;
  p99Ms: number;
  /** CPU seconds the target's process spent during the run. */
  cpuS: number;
  /** CPU seconds the mock upstream spent during the run (a sanity check: same work per target). */
  upstreamCpuS: number;
}

export async function runLoad(target: Target, spec: LoadSpec, upstreamPid: number, round: number): Promise<LoadResult> {
  const sameProcess = target.pid === upstreamPid;
  const cpu0 = cpuSeconds(target.pid);
  const up0 = sameProcess ? cpu0 : cpuSeconds(upstreamPid);
  const result = await autocannon({
    url: target.origin + target.path,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body: spec.body,
    connections: spec.connections,
    duration: spec.durationS,
    timeout: 10,
  });
  const cpu1 = cpuSeconds(target.pid);
  const up1 = sameProcess ? cpu1 : cpuSeconds(upstreamPid);
  return {
    target: target.name,
    round,
    durationS: result.duration,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    rps: result.duration > 0 ? result['2xx'] / result.duration : 0,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    cpuS: cpu1 - cpu0,
    upstreamCpuS: up1 - up0,
  };
}
