/**
 * The Redis connection of the gateway's shared state that may fail over to something local
 * (response cache, circuit breakers, replica membership): a command while Redis is unreachable
 * fails at once instead of queueing until it answers, and the caller falls back. The limits
 * backend keeps its own client: it must also never resend a command whose answer was lost.
 * Sits at the root of src/ beside errors.ts: several domains use it and it imports no domain.
 */
import { Redis } from 'ioredis';

export function failFastRedis(url: string, commandTimeoutMs: number): Redis {
  const client = new Redis(url, {
    connectTimeout: Math.max(commandTimeoutMs * 4, 1000),
    commandTimeout: commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
  });
  // Errors surface on the commands (and in their callers' fallback logs); without a listener
  // ioredis would print each reconnect failure.
  client.on('error', () => undefined);
  return client;
}

/** Resolves true once `client` is connected, false if that did not happen within `timeoutMs`. */
export function readyWithin(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = (): void => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    client.on('ready', onReady);
  });
}
