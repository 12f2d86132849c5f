/** Recognising PostgreSQL errors by SQLSTATE; both drivers put it in `code`. */

export const SQLSTATE = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  /** ON DELETE RESTRICT (NO ACTION reports foreignKeyViolation). */
  restrictViolation: '23001',
  checkViolation: '23514',
  insufficientPrivilege: '42501',
} as const;

export function sqlState(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}

export function isUniqueViolation(err: unknown): boolean {
  return sqlState(err) === SQLSTATE.uniqueViolation;
}

/**
 * The statement failed on what it was given (SQLSTATE class 22, data exception, or 23,
 * integrity constraint violation): sending the same values again fails again, unlike a lost
 * connection or a database that is down.
 */
export function isDataError(err: unknown): boolean {
  const state = sqlState(err);
  return state !== undefined && (state.startsWith('22') || state.startsWith('23'));
}

/**
 * Writes `items` with `write`; when the database refuses them for what they hold (`refuses`, by
 * default isDataError), halves them until the items it refuses stand alone, hands each of those to
 * `refused` and writes the rest: a bad item costs a few more writes (about 2·log2 n), never the
 * items around it. Any other error is thrown (parts written before it stay written). The
 * background writers that batch client-shaped values (usage shipping, request logs) share it.
 */
export async function writeIsolating<T>(
  items: readonly T[],
  write: (part: readonly T[]) => Promise<void>,
  refused: (item: T, err: unknown) => void,
  refuses: (err: unknown) => boolean = isDataError,
): Promise<void> {
  try {
    await write(items);
  } catch (err) {
    if (!refuses(err) || items.length === 0) throw err;
    if (items.length === 1) {
      refused(items[0] as T, err);
      return;
    }
    const mid = items.length >>> 1;
    await writeIsolating(items.slice(0, mid), write, refused, refuses);
    await writeIsolating(items.slice(mid), write, refused, refuses);
  }
}
