/**
 * Thrown (or rejected with) by a shared limit backend that cannot be reached: connection refused
 * or lost, a command timeout, or a server that answers but cannot serve (loading, read-only
 * replica, out of memory). The failover wrapper treats exactly this as "Redis is down"; any other
 * error is a bug and propagates.
 */
export class LimitsUnavailableError extends Error {
  override readonly name = 'LimitsUnavailableError';
}
