/**
 * LISTEN/NOTIFY as the store offers it: channel names, the listener callbacks, and the payload
 * of the configuration channel that migration 0002 fills. Both drivers implement `listen`
 * (notify-pg.ts on a dedicated connection, notify-pglite.ts in process).
 */

/** The channel migration 0002's triggers notify on every change to the snapshot's tables. */
export const CONFIG_CHANNEL = 'gatehouse_config';

export type NotificationHandler = (payload: string) => void;

export interface ListenEvents {
  /**
   * Listening again after the connection was lost. Notifications sent while it was down are
   * gone for good (PostgreSQL queues them only for connected listeners): reload everything.
   */
  onReconnect?: () => void;
  /** The connection was lost, or an attempt to restore it failed; the listener keeps retrying. */
  onError?: (err: Error) => void;
}

/** Stops this subscription (the last one on a channel also UNLISTENs). Idempotent. */
export type Unlisten = () => Promise<void>;

export class ListenerClosedError extends Error {
  override name = 'ListenerClosedError';
}

/**
 * Channels are identifiers spliced into LISTEN (it takes no parameters), so only plain
 * lower-case names are accepted: no quoting rules to get wrong, and PGlite, which folds case
 * unless quoted, and PostgreSQL then agree on the name.
 */
export function checkChannel(channel: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) {
    throw new RangeError(`invalid channel name ${JSON.stringify(channel)}: lower-case letters, digits and _ only`);
  }
  return channel;
}

/** One notification on CONFIG_CHANNEL. */
export interface ConfigChange {
  op: 'insert' | 'update' | 'delete' | 'truncate';
  /** tenants, tenant_domains, teams, api_keys, or a table a later migration adds. */
  table: string;
  /** null after TRUNCATE: every tenant may have changed. */
  tenantId: string | null;
}

const OPS: ReadonlySet<string> = new Set(['insert', 'update', 'delete', 'truncate']);

function isOp(v: unknown): v is ConfigChange['op'] {
  return typeof v === 'string' && OPS.has(v);
}

/** The payload as the triggers write it; undefined for anything else (treat as "reload all"). */
export function parseConfigChange(payload: string): ConfigChange | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { op, table, tenant_id: tenantId } = parsed as Record<string, unknown>;
  if (!isOp(op) || typeof table !== 'string') return undefined;
  if (tenantId !== null && typeof tenantId !== 'string') return undefined;
  return { op, table, tenantId };
}
