/** One schema change. Once applied anywhere its SQL must never change: add a new migration. */
export interface Migration {
  /** Ascending in the list; numbers are reserved per branch, so gaps may exist until branches merge. */
  readonly id: number;
  readonly name: string;
  readonly sql: string;
}
