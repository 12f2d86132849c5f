/**
 * A last line of defence for tenant and platform transactions. The role switch and the tenant
 * setting are transaction-local and the connection's session user may be a superuser (PGlite,
 * tests): one `RESET ROLE`, `SET ROLE`, `set_config('role', ...)` or a DO block that does either
 * would step outside row-level security, and a session-level SET would outlive the transaction
 * on a pooled connection. Repository code never needs any of them, so statements must start
 * with a data keyword and may not call set_config. This guards against bugs, not against an
 * attacker who can already run arbitrary code in the gateway.
 */

const ALLOWED_LEADING = new Set(['select', 'insert', 'update', 'delete', 'with', 'values']);

/** The first keyword after leading whitespace and comments; undefined if it cannot tell. */
function leadingKeyword(sql: string): string | undefined {
  // Nested block comments are legal in PostgreSQL; a comment this regex cannot skip leaves
  // a non-word character first, and the statement is refused (fail closed).
  const m = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*(?:(?!\/\*)[\s\S])*?\*\/)*([A-Za-z_]+)/.exec(sql);
  return m?.[1]?.toLowerCase();
}

export class ForbiddenStatementError extends Error {
  override name = 'ForbiddenStatementError';
}

export function assertDataStatement(sql: string): void {
  const keyword = leadingKeyword(sql);
  if (keyword === undefined || !ALLOWED_LEADING.has(keyword)) {
    throw new ForbiddenStatementError(
      `only SELECT, INSERT, UPDATE, DELETE, WITH and VALUES statements may run in a tenant or platform transaction (got ${keyword ?? 'an unrecognised statement'})`,
    );
  }
  // Anywhere, quoted or not: a false positive in a string literal costs nothing.
  if (/set_config/i.test(sql)) {
    throw new ForbiddenStatementError('set_config() may not be called in a tenant or platform transaction');
  }
}
