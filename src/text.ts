/**
 * Text as a database row can hold it. It sits at the root of src/ with errors.ts: the request path
 * (admission's end-user id), metering, logs and audit must all make the same string of one input.
 *
 * PostgreSQL's text and jsonb refuse NUL and lone UTF-16 surrogates (SQLSTATE 22P05/22021), and
 * JavaScript strings may hold both: a client-chosen string (an end-user id, a model name) that
 * reaches a row unchecked fails the whole statement it travels in. Such characters become U+FFFD.
 */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// The common case costs one scan and no allocation.
const SUSPECT = /[\u0000\uD800-\uDFFF]/;

export function storableText(s: string): string {
  return SUSPECT.test(s) ? s.replace(UNSTORABLE, '\uFFFD') : s;
}
