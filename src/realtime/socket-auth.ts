import type { Position } from './realtime.events';
import { verify } from 'jsonwebtoken';
import type { JwtPolicy } from '../config/app-config';
import { PORTFOLIO_ID_PATTERN } from './realtime.events';

/** Who a socket is, taken from its verified token only (never from anything else the client sends). */
export interface SocketIdentity {
  userId: string;
  /** Portfolios the token allows watching; empty when the claim is absent (deny by default). */
  portfolios: ReadonlySet<string>;
  /** Expiry in ms since the epoch (every accepted token has one). */
  expiresAt: number;
  /** The handshake's `auth.since`: where to resume the user stream from (null: no resume). */
  userSince?: Position | null;
}

/**
 * How far in the future `iat` and `nbf` may lie. The issuer is another server, not the user's device, so the
 * two clocks are NTP-synchronised and differ by milliseconds; 30 s still covers a drifting VM or a token used
 * the instant it was minted, while an `iat` minutes or years ahead (a broken issuer clock, or a token minted for later) is refused.
 * `exp` gets no tolerance: an expired token would only be disconnected at once.
 */
export const CLOCK_SKEW_SECONDS = 30;

const MAX_USER_ID_LENGTH = 128;
const MAX_PORTFOLIO_CLAIMS = 1000;
// jsonwebtoken checks only the signature and algorithm here; its time checks differ from ours (whole seconds,
// one tolerance for exp and nbf alike, maxAge measured from iat to now) so verifyClaims does them all.
const VERIFY_OPTIONS = { algorithms: ['HS256' as const], ignoreExpiration: true, ignoreNotBefore: true };

interface Claims {
  sub?: unknown;
  portfolios?: unknown;
  exp?: unknown;
  iat?: unknown;
  nbf?: unknown;
  aud?: unknown;
  iss?: unknown;
}

/**
 * Verifies an HS256 JWT and returns the identity it carries, or null for anything else: missing, malformed,
 * wrongly signed, `alg: none` or another algorithm, or with claims that break the policy (see verifyClaims).
 * The caller answers every null the same way, so a client learns nothing about why. The secret is a KeyObject
 * made once: given a string, jsonwebtoken first tries to parse it as a public key and throws, costing ~0.4 ms
 * a verify.
 */
export function verifyAccessToken(
  token: unknown,
  policy: JwtPolicy,
  nowMs: number = Date.now(),
): SocketIdentity | null {
  if (typeof token !== 'string' || token.length === 0 || token.length > 8192) return null;
  let claims: unknown;
  try {
    claims = verify(token, policy.key, VERIFY_OPTIONS);
  } catch {
    return null;
  }
  if (typeof claims !== 'object' || claims === null) return null;
  return verifyClaims(claims, policy, nowMs);
}

/**
 * The claims rules. Required: `sub`, `exp`. Optional: `portfolios`, `iat`, `nbf`, `aud`, `iss`. Times are
 * NumericDates (seconds, fractions allowed, compared exactly rather than rounded):
 * - `exp` in the future; `iat` and `nbf`, when present, numbers no more than CLOCK_SKEW_SECONDS ahead;
 * - lifetime `exp - iat` (or `exp - now` without `iat`) at most `policy.maxAgeSeconds`, so no token opens
 *   sockets for longer than the operator allows, however it was minted;
 * - `aud` containing `policy.audience` and `iss` equal to `policy.issuer`, when those are set: that is what
 *   keeps a refresh or password-reset token signed with the same secret (but meant for another audience)
 *   from opening a socket. The `typ` header is not read: issuers rarely set it, and a distinct audience per
 *   kind of token is the standard separation (RFC 8725 sections 3.9 and 3.12).
 */
function verifyClaims(claims: Claims, policy: JwtPolicy, nowMs: number): SocketIdentity | null {
  const { sub, portfolios, exp, iat, nbf } = claims;
  const now = nowMs / 1000;
  if (!isNumericDate(exp) || exp <= now) return null;
  if (iat !== undefined && !(isNumericDate(iat) && iat <= now + CLOCK_SKEW_SECONDS)) return null;
  if (nbf !== undefined && !(isNumericDate(nbf) && nbf <= now + CLOCK_SKEW_SECONDS)) return null;
  if (exp - (iat ?? now) > policy.maxAgeSeconds) return null;
  if (policy.audience !== undefined && !hasAudience(claims.aud, policy.audience)) return null;
  if (policy.issuer !== undefined && claims.iss !== policy.issuer) return null;
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
  return { userId: sub, portfolios: allowed, expiresAt: exp * 1000 };
}

/** JSON numbers only; `1e400` parses to Infinity and must not pass as a date. */
function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** RFC 7519: `aud` is one string or an array of strings. */
function hasAudience(aud: unknown, expected: string): boolean {
  return aud === expected || (Array.isArray(aud) && aud.includes(expected));
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
export function hasControlChars(s: string): boolean {
  return CONTROL_CHARS.test(s);
}
