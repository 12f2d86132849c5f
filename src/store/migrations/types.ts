/** One schema change. Once applied anywhere its SQL must never change: add a new migration. */
export interface Migration {
  /** Contiguous (1, 2, 3, ...): position i holds id i; branches built in parallel are renumbered when merged. */
  readonly id: number;
  readonly name: string;
  readonly sql: string;
}
