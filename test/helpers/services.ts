/**
 * Real services for integration tests. On a developer machine without PostgreSQL or Redis the
 * tests that need them skip with a visible notice; CI sets GATEHOUSE_REQUIRE_SERVICES=1 and a
 * missing service then fails the run instead.
 */
import net from 'node:net';

export const POSTGRES_URL = process.env.DATABASE_URL_TEST ?? 'postgres://root@127.0.0.1:5432/test';
export const REDIS_URL = process.env.REDIS_URL_TEST ?? 'redis://127.0.0.1:6379';

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port || defaultPort), timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

async function available(name: string, url: string, port: number): Promise<boolean> {
  if (await reachable(url, port)) return true;
  if (process.env.GATEHOUSE_REQUIRE_SERVICES === '1') {
    throw new Error(`${name} is required (GATEHOUSE_REQUIRE_SERVICES=1) but ${url} is unreachable`);
  }
  console.warn(`\n  NOTICE: ${name} not reachable at ${url}; skipping the tests that need it.\n`);
  return false;
}

export const postgresAvailable = (): Promise<boolean> => available('PostgreSQL', POSTGRES_URL, 5432);
export const redisAvailable = (): Promise<boolean> => available('Redis', REDIS_URL, 6379);
