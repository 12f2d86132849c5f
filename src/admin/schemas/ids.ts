/** Cursor sanity checks: a cursor for an id-ordered list must carry a UUID. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuidText(s: string): boolean {
  return UUID.test(s);
}
