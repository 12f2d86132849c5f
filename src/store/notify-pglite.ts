/**
 * LISTEN in embedded mode: PGlite is one in-process session, so its own `listen` API delivers
 * every NOTIFY committed through the store (the same triggers as on PostgreSQL). There is no
 * connection to lose, so `onReconnect` never fires.
 */
import type { PGlite } from '@electric-sql/pglite';
import { checkChannel, ListenerClosedError, type ListenEvents, type NotificationHandler, type Unlisten } from './notify.js';

export interface PgliteListener {
  listen(channel: string, onMessage: NotificationHandler, events?: ListenEvents): Promise<Unlisten>;
  /** Drops every subscription; call before closing the database. */
  close(): Promise<void>;
}

export function createPgliteListener(db: PGlite): PgliteListener {
  const active = new Set<Unlisten>();
  let closed = false;

  return {
    async listen(channel, onMessage) {
      checkChannel(channel);
      if (closed || db.closed) throw new ListenerClosedError('the store is closed');
      // PGlite runs the callback while it processes the COMMIT's protocol messages; a throwing
      // subscriber must not surface as an error of someone else's transaction.
      const remove = await db.listen(channel, (payload) => {
        try {
          onMessage(payload);
        } catch {
          // The subscriber's own bug.
        }
      });
      let done = false;
      const unlisten: Unlisten = async () => {
        if (done) return;
        done = true;
        active.delete(unlisten);
        if (!db.closed) await remove();
      };
      active.add(unlisten);
      return unlisten;
    },

    async close() {
      closed = true;
      for (const unlisten of [...active]) await unlisten().catch(() => {});
    },
  };
}
