/** One schema change. Once applied anywhere its SQL must never change: add a new migration. */
export interface Migration {
  /** Increasing (1, 2, 3, ...); a gap is a number reserved for a change not merged yet. */
  readonly id: number;
  readonly name: string;
  readonly sql: string;
}
