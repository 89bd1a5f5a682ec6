import type { KeyObject } from 'node:crypto';
import { verify } from 'jsonwebtoken';
import { PORTFOLIO_ID_PATTERN } from './realtime.events';

/** Who a socket is, taken from its verified token only (never from anything else the client sends). */
export interface SocketIdentity {
  userId: string;
  /** Portfolios the token allows watching; empty when the claim is absent (deny by default). */
  portfolios: ReadonlySet<string>;
  /** Expiry in ms since the epoch, or null for a token without `exp`. */
  expiresAt: number | null;
}

const MAX_USER_ID_LENGTH = 128;
const MAX_PORTFOLIO_CLAIMS = 1000;
const VERIFY_OPTIONS = { algorithms: ['HS256' as const] };

/**
 * Verifies an HS256 JWT and returns the identity it carries, or null for anything else: missing, malformed,
 * wrongly signed, `alg: none` or another algorithm, expired, or with claims of the wrong shape. The caller
 * answers every null the same way, so a client learns nothing about why. The secret is a KeyObject made once:
 * given a string, jsonwebtoken first tries to parse it as a public key and throws, costing ~0.4 ms a verify.
 */
export function verifyAccessToken(token: unknown, secret: KeyObject): SocketIdentity | null {
  if (typeof token !== 'string' || token.length === 0 || token.length > 8192) return null;
  let claims: unknown;
  try {
    claims = verify(token, secret, VERIFY_OPTIONS);
  } catch {
    return null;
  }
  if (typeof claims !== 'object' || claims === null) return null;
  const { sub, portfolios, exp } = claims as { sub?: unknown; portfolios?: unknown; exp?: unknown };
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_USER_ID_LENGTH || hasControlChars(sub))
    return null;
  let allowed: Set<string>;
  if (portfolios === undefined) {
    allowed = new Set();
  } else if (Array.isArray(portfolios) && portfolios.length <= MAX_PORTFOLIO_CLAIMS) {
    allowed = new Set();
    for (const p of portfolios) {
      if (typeof p !== 'string' || !PORTFOLIO_ID_PATTERN.test(p)) return null;
      allowed.add(p);
    }
  } else {
    return null;
  }
  const expiresAt = typeof exp === 'number' ? exp * 1000 : null;
  // jsonwebtoken compares whole seconds; a fractional `exp` (or the second boundary) can pass it already expired.
  if (expiresAt !== null && expiresAt <= Date.now()) return null;
  return { userId: sub, portfolios: allowed, expiresAt };
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
export function hasControlChars(s: string): boolean {
  return CONTROL_CHARS.test(s);
}
