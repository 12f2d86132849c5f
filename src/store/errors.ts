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
