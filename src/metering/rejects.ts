/**
 * Usage records the store refuses for what they hold (a record that does not decode, or an event
 * the database rejects with a data error) must not hold up the ones behind them: the shipper
 * sets them aside here and goes on. The file is the operator's to inspect and replay: one JSON
 * line per record, the record itself in base64 (byte for byte as spooled), fsync'd before the
 * spool's checkpoint moves past it. Past `maxBytes` records are only counted and logged, so a
 * flood of bad records cannot fill the disk.
 */
import { appendFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncPath } from '../store/fsync.js';

export interface RejectedRecord {
  record: Buffer;
  /** Why: 'malformed' for a record that does not decode, else the database's message. */
  reason: string;
  /** The database's SQLSTATE, when it refused the event. */
  sqlState?: string;
  tenantId?: string;
}

export interface Rejects {
  /** Appends and fsyncs; resolves to how many were written (the rest: the file is full). */
  put(records: readonly RejectedRecord[]): Promise<number>;
}

export function openRejects(file: string, maxBytes: number): Rejects {
  let size: number | undefined;
  return {
    async put(records) {
      if (records.length === 0) return 0;
      size ??= await stat(file).then((s) => s.size, () => 0);
      const at = new Date().toISOString();
      let text = '';
      let added = 0;
      let written = 0;
      for (const r of records) {
        const line = `${JSON.stringify({ at, tenant: r.tenantId ?? null, sqlState: r.sqlState ?? null, reason: r.reason, record: r.record.toString('base64') })}\n`;
        const bytes = Buffer.byteLength(line);
        if (size + added + bytes > maxBytes) break;
        text += line;
        added += bytes;
        written++;
      }
      if (text === '') return 0;
      await appendFile(file, text, { mode: 0o600 });
      await fsyncPath(file);
      if (size === 0) await fsyncPath(dirname(file)); // a new file is durable once its directory is
      size += added;
      return written;
    },
  };
}
