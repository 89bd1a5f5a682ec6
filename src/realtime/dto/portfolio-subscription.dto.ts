import { PORTFOLIO_ID_MAX_LENGTH, PORTFOLIO_ID_PATTERN } from '../realtime.events';

/** `{portfolioId}` for portfolio:subscribe and portfolio:unsubscribe. */
export interface PortfolioSubscriptionDto {
  portfolioId: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * Validates by hand rather than with a schema library: this runs for every event, and a strict check of one
 * field costs a few comparisons with no allocation on the success path. Strict: a plain object with exactly
 * the one field; anything else (arrays, class instances, binary, extra keys including `__proto__`) is refused.
 */
export function parsePortfolioSubscription(payload: unknown): Parsed<string> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return fail('payload must be an object like {"portfolioId": "..."}');
  }
  if (Object.getPrototypeOf(payload) !== Object.prototype) return fail('payload must be a plain object');
  let keys = 0;
  for (const key in payload) {
    keys++;
    if (key !== 'portfolioId')
      return fail(`unexpected field "${key.length > 32 ? key.slice(0, 32) + '…' : key}"`);
  }
  const id = (payload as { portfolioId?: unknown }).portfolioId;
  if (keys === 0 || id === undefined) return fail('portfolioId is required');
  if (typeof id !== 'string') return fail('portfolioId must be a string');
  if (id.length === 0 || id.length > PORTFOLIO_ID_MAX_LENGTH || !PORTFOLIO_ID_PATTERN.test(id)) {
    return fail(`portfolioId must be 1-${PORTFOLIO_ID_MAX_LENGTH} characters of letters, digits, "_" or "-"`);
  }
  return { ok: true, value: id };
}

function fail(message: string): { ok: false; message: string } {
  return { ok: false, message };
}
