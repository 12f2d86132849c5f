/**
 * The plans of a billing period, from the tenant's plan history (tenant_plan_history, written
 * by a trigger whenever tenants.plan_id changes). Pure: the service reads the history and the
 * plans' pricing.
 *
 * - The plan in force at the period start is the last change at or before it. A history that
 *   starts after the period start (a tenant created during the month, or rows written before
 *   the history existed) extends its first plan back to the start: the first month is not
 *   prorated by the creation date.
 * - A change inside the period starts a new segment; a change to the plan already in force
 *   does not. Changes at the same instant: the later row wins.
 * - Usage granularity is the day bucket (DESIGN §13): a segment's usage is the day buckets
 *   that start in [from, to), so a day belongs to the plan in force at its local midnight, and
 *   the period's day buckets are split between segments exactly, none twice.
 */

export interface PlanChange {
  planId: string | null;
  effectiveFrom: Date;
}

export interface PeriodSegment {
  planId: string | null;
  from: Date;
  to: Date;
}

export function planSegments(history: readonly PlanChange[], start: Date, end: Date, currentPlanId: string | null): PeriodSegment[] {
  const rows = [...history].sort((a, b) => a.effectiveFrom.getTime() - b.effectiveFrom.getTime());
  const first = rows[0];
  if (first === undefined) return [{ planId: currentPlanId, from: start, to: end }];
  let current = first.planId;
  for (const r of rows) {
    if (r.effectiveFrom.getTime() > start.getTime()) break;
    current = r.planId;
  }
  const out: PeriodSegment[] = [];
  let from = start;
  for (const r of rows) {
    const t = r.effectiveFrom.getTime();
    if (t <= start.getTime() || t >= end.getTime() || r.planId === current) continue;
    out.push({ planId: current, from, to: r.effectiveFrom });
    current = r.planId;
    from = r.effectiveFrom;
  }
  out.push({ planId: current, from, to: end });
  return out;
}
