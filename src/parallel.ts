/**
 * `fn` over `items`, at most `limit` at a time, each item once, in order of start. The background
 * writers (usage shipping, audit, key usage, webhook delivery) all spread their tenants this way.
 */
export async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
