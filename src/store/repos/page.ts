/**
 * Keyset pagination shared by the admin repositories: each list orders by one unique column and
 * continues strictly after the last value seen, so concurrent inserts and deletes never make a
 * page repeat or skip a row that existed throughout (offsets would).
 */

export interface PageRequest {
  /** The sort value of the last row of the previous page; null for the first page. */
  after: string | null;
  /** Rows per page, already bounded by the caller. */
  limit: number;
}

export interface Page<T> {
  items: T[];
  /** The sort value to continue after; null on the last page. */
  next: string | null;
}

/** Rows were fetched with LIMIT limit + 1: the extra row only says whether there is more. */
export function toPage<R, T>(rows: readonly R[], req: PageRequest, map: (r: R) => T, key: (r: R) => string): Page<T> {
  const more = rows.length > req.limit;
  const kept = more ? rows.slice(0, req.limit) : rows;
  const last = kept[kept.length - 1];
  return { items: kept.map(map), next: more && last !== undefined ? key(last) : null };
}
