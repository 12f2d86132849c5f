// Fails CI when PostgreSQL or Redis is unreachable: CI must run the real thing, never skip it.
import net from 'node:net';

function reach(name, host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 3000 });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); console.error(`${name} at ${host}:${port}: timed out`); resolve(false); });
    socket.once('error', (err) => { console.error(`${name} at ${host}:${port}: ${err.message}`); resolve(false); });
  });
}

const pg = new URL(process.env.DATABASE_URL_TEST ?? 'postgres://root@127.0.0.1:5432/test');
const redis = new URL(process.env.REDIS_URL_TEST ?? 'redis://127.0.0.1:6379');
const ok = (await reach('PostgreSQL', pg.hostname, Number(pg.port || 5432))) & (await reach('Redis', redis.hostname, Number(redis.port || 6379)));
if (!ok) {
  console.error('CI requires PostgreSQL and Redis; they are not reachable.');
  process.exit(1);
}
