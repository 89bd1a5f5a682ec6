import { PORTFOLIO_ID_MAX_LENGTH, PORTFOLIO_ID_PATTERN, type Position } from '../realtime.events';

/** `{portfolioId}` for portfolio:unsubscribe; portfolio:subscribe may add `since`. */
export interface PortfolioSubscriptionDto {
  portfolioId: string;
  since: Position | null;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** Epochs are what the server handed out: short tokens. Anything else cannot match and is refused as input. */
const EPOCH_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Validates by hand rather than with a schema library: this runs for every event, and a strict check of one
 * field costs a few comparisons with no allocation on the success path. Strict: a plain object with exactly
 * the allowed fields; anything else (arrays, class instances, binary, extra keys including `__proto__`) is refused.
 */
export function parsePortfolioSubscription(
  payload: unknown,
  allowSince = false,
): Parsed<PortfolioSubscriptionDto> {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return fail('payload must be an object like {"portfolioId": "..."}');
  }
  if (Object.getPrototypeOf(payload) !== Object.prototype) return fail('payload must be a plain object');
  let keys = 0;
  for (const key in payload) {
    keys++;
    if (key !== 'portfolioId' && !(allowSince && key === 'since'))
      return fail(`unexpected field "${key.length > 32 ? key.slice(0, 32) + '…' : key}"`);
  }
  const p = payload as { portfolioId?: unknown; since?: unknown };
  const id = p.portfolioId;
  if (keys === 0 || id === undefined) return fail('portfolioId is required');
  if (typeof id !== 'string') return fail('portfolioId must be a string');
  if (id.length === 0 || id.length > PORTFOLIO_ID_MAX_LENGTH || !PORTFOLIO_ID_PATTERN.test(id)) {
    return fail(`portfolioId must be 1-${PORTFOLIO_ID_MAX_LENGTH} characters of letters, digits, "_" or "-"`);
  }
  if (p.since === undefined) return { ok: true, value: { portfolioId: id, since: null } };
  const since = parsePosition(p.since);
  if (!since.ok) return since;
  return { ok: true, value: { portfolioId: id, since: since.value } };
}

/** `since`: `{epoch, offset}` exactly, as the server handed it out (`null` counts as absent). */
export function parsePosition(value: unknown, field = 'since'): Parsed<Position | null> {
  if (value === null) return { ok: true, value: null };
  const shape = `${field} must be an object like {"epoch": "...", "offset": 12}`;
  if (typeof value !== 'object' || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype)
    return fail(shape);
  let keys = 0;
  for (const key in value) {
    keys++;
    if (key !== 'epoch' && key !== 'offset') return fail(shape);
  }
  const { epoch, offset } = value as { epoch?: unknown; offset?: unknown };
  if (keys !== 2) return fail(shape);
  if (typeof epoch !== 'string' || !EPOCH_PATTERN.test(epoch))
    return fail(`${field}.epoch must be 1-64 characters of letters, digits, "_" or "-"`);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
    return fail(`${field}.offset must be a whole number >= 0`);
  return { ok: true, value: { epoch, offset } };
}

function fail(message: string): { ok: false; message: string } {
  return { ok: false, message };
}
