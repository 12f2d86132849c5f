/**
 * Metering (DESIGN §5): the spool, the shipper and the partition/retention upkeep, assembled.
 * `record` is the request's completion hook (src/pipeline/meter.ts): it builds the usage event
 * and appends it to the spool before the response's last byte goes out.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Completion } from '../pipeline/context.js';
import type { Store } from '../store/index.js';
import { buildUsageEvent, encodeEvent } from './event.js';
import { startMaintenance, type Maintenance, type MaintenanceStats, type RetentionOptions } from './maintenance.js';
import { openRejects } from './rejects.js';
import { startShipper, type Shipper, type ShipperStats } from './shipper.js';
import { openSpool, type Spool, type SpoolStats } from './spool.js';

export { buildUsageEvent, decodeEvent, encodeEvent, parseTags, type UsageEvent } from './event.js';
export { openSpool, SpoolFullError, type Spool } from './spool.js';
export { startShipper, type Shipper } from './shipper.js';

/** In the spool directory: the records the shipper set aside (src/metering/rejects.ts). */
export const REJECTS_FILE = 'rejected.ndjson';
const REJECTS_MAX_BYTES = 256 * 1024 * 1024;

export interface MeteringOptions {
  store: Store;
  spoolDir: string;
  fsyncIntervalMs: number;
  segmentBytes: number;
  spoolMaxBytes: number;
  /** 'write': done once write(2) returned (survives a process crash); 'fsync': once fsync'd too. */
  ackMode: 'write' | 'fsync';
  batchSize: number;
  lingerMs: number;
  concurrency: number;
  retention: RetentionOptions;
  logger: Logger;
}

export interface MeteringStats {
  spool: SpoolStats;
  shipper: ShipperStats;
  /** Events that could not be written (spool full, disk error): their responses were cut. */
  writeFailures: number;
}

export interface Metering {
  /** False while the spool is full: new model requests are refused (fail closed). */
  accepting(): boolean;
  record: Completion;
  stats(): MeteringStats;
  /** The partition upkeep (or, without owner rights, the partition check): last result. */
  maintenance(): MaintenanceStats;
  /**
   * Resolves once the events the last process left in the spool (unshipped at a crash, or when
   * the store was unreachable at its stop) are in the store: from then on the ledger has every
   * request served before this start. Never rejects; may never resolve while the store is down.
   */
  recovered(): Promise<void>;
  /** Ships everything spooled so far (tests, benchmarks). */
  drain(timeoutMs?: number): Promise<void>;
  /** After the server drained: ships for a moment, then leaves the rest in the spool. */
  close(): Promise<void>;
}

export async function startMetering(opts: MeteringOptions): Promise<Metering> {
  const { logger } = opts;
  const spool: Spool = await openSpool({
    dir: opts.spoolDir,
    fsyncIntervalMs: opts.fsyncIntervalMs,
    segmentBytes: opts.segmentBytes,
    maxBytes: opts.spoolMaxBytes,
    onWarn: (msg, fields) => logger.warn(fields ?? {}, msg),
  });
  const shipper: Shipper = startShipper({
    spool,
    store: opts.store,
    batchSize: opts.batchSize,
    lingerMs: opts.lingerMs,
    concurrency: opts.concurrency,
    rejects: openRejects(join(opts.spoolDir, REJECTS_FILE), REJECTS_MAX_BYTES),
    logger,
  });
  const maintenance: Maintenance = startMaintenance(opts.store, opts.retention, logger);
  let writeFailures = 0;
  const fsyncAck = opts.ackMode === 'fsync';

  // Resolves once the turn's grouped write(2) returned (and, with ackMode fsync, the fsync). A
  // write that fails is counted by the spool, per record; a refusal here (spool full) by us.
  const record: Completion = (outcome, ctx) => {
    const event = buildUsageEvent(ctx, outcome, { nowMs: Date.now(), endHr: process.hrtime.bigint() });
    if (event === undefined) return;
    let written: Promise<void>;
    try {
      written = spool.enqueue(encodeEvent(event));
    } catch (err) {
      writeFailures++;
      throw err;
    }
    return fsyncAck ? written.then(spool.synced) : written;
  };

  return {
    accepting: () => spool.accepting(),
    record,
    stats: () => {
      const spooled = spool.stats();
      return { spool: spooled, shipper: shipper.stats(), writeFailures: writeFailures + spooled.writeFailed };
    },
    maintenance: () => maintenance.stats(),
    recovered: () => spool.recovered(),
    drain: (timeoutMs) => shipper.drain(timeoutMs),
    async close(): Promise<void> {
      await maintenance.stop();
      await shipper.drain(2_000).catch(() => {
        logger.warn({ backlogBytes: spool.stats().backlogBytes }, 'usage backlog left in the spool; it ships on the next start');
      });
      await shipper.close();
      await spool.close();
    },
  };
}
