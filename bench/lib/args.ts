/** Command-line flags of run.ts and compare-servers.ts. */
import { parseArgs } from 'node:util';

export interface BenchOptions {
  quick: boolean;
  /** Seconds per autocannon run. */
  duration: number;
  connections: number;
  /** Load rounds; each round drives every target once, in a rotated order. */
  rounds: number;
  /** Seconds of unmeasured load per target before the first round. */
  warmup: number;
  /** Sequential one-connection requests per target for the latency figures. */
  samples: number;
  /** Sequential streaming requests per target for the TTFB figure. */
  streamSamples: number;
  /** Completion tokens per streamed response in the TTFB probe. */
  streamTokens: number;
  /** Concurrent streams through the gateway (0 skips the check). */
  streams: number;
  outDir: string;
  keep: boolean;
  /** Write V8 CPU profiles of the proxies into <out>/profiles-<time>/ (distorts the figures). */
  profile: boolean;
}

const HELP = `Flags:
  --quick               smoke run (short, small); explicit flags still win
  --duration <s>        seconds per load run (default 10)
  --connections <n>     autocannon connections (default 100)
  --rounds <n>          load rounds, target order rotated each round (default 3)
  --warmup <s>          unmeasured load per target first (default 3)
  --samples <n>         one-connection latency samples per target (default 3000)
  --stream-samples <n>  streaming TTFB samples per target (default 200)
  --stream-tokens <n>   tokens per streamed response (default 50)
  --streams <n>         concurrent streams through gatehouse, 0 = skip (default 512)
  --out <dir>           results directory (default bench/results)
  --keep                keep the temp dir (configs, child logs)
  --profile             V8 CPU profiles of bare proxy and gatehouse into <out>/profiles-<time>/
                        (open in Chrome DevTools; profiling slows them, so figures are off)`;

function num(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} wants a non-negative number, got ${value}`);
  return n;
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      connections: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      samples: { type: 'string' },
      'stream-samples': { type: 'string' },
      'stream-tokens': { type: 'string' },
      streams: { type: 'string' },
      out: { type: 'string', default: 'bench/results' },
      keep: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const q = values.quick;
  return {
    quick: q,
    duration: num(values.duration, q ? 2 : 10, 'duration'),
    connections: Math.max(1, Math.round(num(values.connections, q ? 20 : 100, 'connections'))),
    rounds: Math.max(1, Math.round(num(values.rounds, q ? 1 : 3, 'rounds'))),
    warmup: num(values.warmup, q ? 1 : 3, 'warmup'),
    samples: Math.max(10, Math.round(num(values.samples, q ? 300 : 3000, 'samples'))),
    streamSamples: Math.max(10, Math.round(num(values['stream-samples'], q ? 50 : 200, 'stream-samples'))),
    streamTokens: Math.max(1, Math.round(num(values['stream-tokens'], 50, 'stream-tokens'))),
    streams: Math.round(num(values.streams, q ? 64 : 512, 'streams')),
    outDir: values.out,
    keep: values.keep,
    profile: values.profile,
  };
}
