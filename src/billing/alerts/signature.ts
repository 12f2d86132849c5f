/**
 * Webhook signatures: HMAC-SHA256 with the webhook's secret over `${t}.${body}`, sent as
 * `x-gatehouse-signature: t=<unix seconds>,v1=<hex>`. The timestamp is signed, so a receiver that
 * rejects old timestamps (5 minutes is usual) also rejects replays.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-gatehouse-signature';
export const EVENT_ID_HEADER = 'x-gatehouse-event-id';

export function signPayload(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * Checks a signature header against `body` (the raw bytes as received) within `toleranceS` of
 * `nowS`. Any `v1=` entry may match (a header may carry several during a secret rotation).
 */
export function verifySignature(secret: string, body: string, header: string, opts: { nowS?: number; toleranceS?: number } = {}): boolean {
  let t: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === 't' && /^\d{1,12}$/.test(v)) t = Number(v);
    else if (k === 'v1' && /^[0-9a-f]{64}$/.test(v)) candidates.push(v);
  }
  if (t === undefined || candidates.length === 0) return false;
  const nowS = opts.nowS ?? Math.floor(Date.now() / 1000);
  if (Math.abs(nowS - t) > (opts.toleranceS ?? 300)) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return candidates.some((c) => timingSafeEqual(Buffer.from(c, 'hex'), expected));
}
