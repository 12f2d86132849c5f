/**
 * LISTEN on PostgreSQL. A LISTEN belongs to a session, so it needs a connection of its own for
 * as long as it listens: a pooled client would be handed to someone else's transaction (and a
 * pool reaps idle clients). One dedicated `pg.Client` serves every channel of the process.
 *
 * When that connection is lost (server restart, failover, pg_terminate_backend, a network cut
 * noticed by the heartbeat) it is re-established with exponential backoff and every channel is
 * listened to again. Notifications sent in between are lost, not queued, so each subscriber's
 * `onReconnect` then tells it to reload in full.
 */
import pg from 'pg';
import { checkChannel, ListenerClosedError, type ListenEvents, type NotificationHandler, type Unlisten } from './notify.js';

export interface PgListenerOptions {
  connectionString: string;
  /** Shows in pg_stat_activity; defaults to gatehouse-listen:<pid> so operators (and tests) can find it. */
  applicationName?: string;
  /** First reconnect delay; doubles per failed attempt up to maxBackoffMs (±20% jitter). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * A `SELECT 1` this often: a half-open TCP connection (peer gone without a FIN or RST) raises
   * no error by itself, and a listener on it would wait for notifications forever.
   */
  heartbeatMs?: number;
  /** Bounds each statement on the listener connection, the heartbeat included. */
  queryTimeoutMs?: number;
}

export interface PgListener {
  listen(channel: string, onMessage: NotificationHandler, events?: ListenEvents): Promise<Unlisten>;
  close(): Promise<void>;
}

interface Subscription {
  onMessage: NotificationHandler;
  events: ListenEvents;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Runs a subscriber's callback; a throwing subscriber must not break delivery to the others. */
function safely(fn: (() => void) | undefined): void {
  try {
    fn?.();
  } catch {
    // The subscriber's own bug; nothing useful to do with it here.
  }
}

export function createPgListener(opts: PgListenerOptions): PgListener {
  const initialBackoffMs = opts.initialBackoffMs ?? 100;
  const maxBackoffMs = opts.maxBackoffMs ?? 5_000;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const applicationName = opts.applicationName ?? `gatehouse-listen:${process.pid}`;

  const subs = new Map<string, Set<Subscription>>();
  let client: pg.Client | undefined;
  /** Channels LISTENed on the current client. */
  const listening = new Set<string>();
  let connecting: Promise<pg.Client> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let attempt = 0;
  let closed = false;

  const everySub = (): Subscription[] => [...subs.values()].flatMap((s) => [...s]);

  function dispatch(msg: pg.Notification): void {
    for (const sub of subs.get(msg.channel) ?? []) safely(() => sub.onMessage(msg.payload ?? ''));
  }

  async function listenOn(c: pg.Client, channel: string): Promise<void> {
    if (listening.has(channel)) return;
    await c.query(`LISTEN ${c.escapeIdentifier(channel)}`);
    listening.add(channel);
  }

  /** The connection `c` is gone: forget it, tell subscribers, and start reconnecting. */
  function lost(c: pg.Client, err: Error): void {
    if (c !== client) return; // an old client's late 'end', or one we closed ourselves
    client = undefined;
    listening.clear();
    stopHeartbeat();
    c.end().catch(() => {});
    if (closed) return;
    for (const sub of everySub()) safely(() => sub.events.onError?.(err));
    scheduleReconnect();
  }

  function startHeartbeat(c: pg.Client): void {
    stopHeartbeat();
    heartbeat = setInterval(() => {
      c.query('SELECT 1').catch((err: unknown) => lost(c, asError(err)));
    }, heartbeatMs);
    heartbeat.unref();
  }

  function stopHeartbeat(): void {
    if (heartbeat !== undefined) clearInterval(heartbeat);
    heartbeat = undefined;
  }

  async function connect(): Promise<pg.Client> {
    const c = new pg.Client({
      connectionString: opts.connectionString,
      application_name: applicationName,
      keepAlive: true,
      connectionTimeoutMillis: 10_000,
      query_timeout: opts.queryTimeoutMs ?? 10_000,
    });
    // Attached before connect: an 'error' without a listener would crash the process.
    c.on('error', (err) => lost(c, err));
    c.on('end', () => lost(c, new Error('the listener connection ended')));
    c.on('notification', dispatch);
    try {
      await c.connect();
      if (closed) throw new ListenerClosedError('the listener was closed while connecting');
      client = c;
      for (const channel of subs.keys()) await listenOn(c, channel);
    } catch (err) {
      if (client === c) client = undefined;
      listening.clear();
      c.end().catch(() => {});
      throw err;
    }
    startHeartbeat(c);
    return c;
  }

  function ensureConnected(): Promise<pg.Client> {
    if (client !== undefined) return Promise.resolve(client);
    connecting ??= connect().finally(() => (connecting = undefined));
    return connecting;
  }

  function scheduleReconnect(): void {
    if (closed || retryTimer !== undefined || subs.size === 0) return;
    const base = Math.min(maxBackoffMs, initialBackoffMs * 2 ** attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4)); // jitter: replicas do not stampede
    attempt += 1;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      ensureConnected().then(
        () => {
          attempt = 0;
          for (const sub of everySub()) safely(sub.events.onReconnect);
        },
        (err: unknown) => {
          if (closed) return;
          for (const sub of everySub()) safely(() => sub.events.onError?.(asError(err)));
          scheduleReconnect();
        },
      );
    }, delay);
    retryTimer.unref();
  }

  /** No subscriber left: drop the connection (and any pending reconnect) until the next listen. */
  async function idle(): Promise<void> {
    if (subs.size > 0) return;
    if (retryTimer !== undefined) clearTimeout(retryTimer);
    retryTimer = undefined;
    attempt = 0;
    const c = client;
    client = undefined;
    listening.clear();
    stopHeartbeat();
    await c?.end().catch(() => {});
  }

  return {
    async listen(channel, onMessage, events = {}) {
      checkChannel(channel);
      if (closed) throw new ListenerClosedError('the listener is closed');
      const sub: Subscription = { onMessage, events };
      const set = subs.get(channel) ?? new Set<Subscription>();
      set.add(sub);
      subs.set(channel, set);
      try {
        // While a reconnect is pending the channel is LISTENed when it succeeds; otherwise
        // connect (or reuse the connection) now, so a failure surfaces to the caller.
        if (retryTimer === undefined) await listenOn(await ensureConnected(), channel);
      } catch (err) {
        set.delete(sub);
        if (set.size === 0) subs.delete(channel);
        await idle();
        throw err;
      }
      let done = false;
      return async () => {
        if (done) return;
        done = true;
        set.delete(sub);
        if (set.size > 0 || subs.get(channel) !== set) return;
        subs.delete(channel);
        const c = client;
        if (c !== undefined && listening.delete(channel)) {
          await c.query(`UNLISTEN ${c.escapeIdentifier(channel)}`).catch(() => {}); // lost: nothing to undo
        }
        await idle();
      };
    },

    async close() {
      closed = true;
      subs.clear();
      await connecting?.catch(() => {});
      await idle();
    },
  };
}
