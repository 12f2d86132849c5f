/** One schema change. Once applied anywhere its SQL must never change: add a new migration. */
export interface Migration {
  /** 1, 2, 3, ... in order, without gaps. */
  readonly id: number;
  readonly name: string;
  readonly sql: string;
}
