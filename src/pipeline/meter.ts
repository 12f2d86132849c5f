/**
 * Stage: metering (DESIGN §5). Runs right after authentication, so every model request of an
 * authenticated caller is metered once, refusals included (with their status and no tokens).
 * Requests refused by authentication itself are not: they have no key to charge, and metering
 * them would let anyone fill the spool with bad keys. While the spool is full the request is
 * refused before any upstream call (fail closed: no usage may go unrecorded).
 */
import { GatewayError } from '../errors.js';
import { setCompletion, type Completion, type Stage } from './context.js';

export interface MeterDeps {
  accepting(): boolean;
  record: Completion;
}

export function meter(deps: MeterDeps): Stage {
  return (ctx) => {
    if (!deps.accepting()) {
      throw new GatewayError('metering_unavailable', 'Usage metering cannot record requests right now; retry shortly.', {
        headers: { 'retry-after': '5' },
      });
    }
    setCompletion(ctx, deps.record);
  };
}
