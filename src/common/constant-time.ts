import { createHash, timingSafeEqual } from 'node:crypto';

/** Compares secrets in constant time, whatever their lengths (both sides are hashed to equal length first). */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

/** RFC 7235's token68 (RFC 6750's b64token): the only characters a Bearer or Basic credential may carry. */
export const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Splits `<scheme> <token68>` strictly: one space, nothing before or after (Node already trims the header's
 * surrounding whitespace), no second word. A lenient split would accept `Bearer <token> junk`, so two parsers
 * (ours and a proxy's) could read different credentials from one header. The scheme is case-insensitive
 * (RFC 7235); it is returned lower-cased.
 */
function parseAuthorization(header: string | undefined): { scheme: string; value: string } | null {
  if (header === undefined) return null;
  const space = header.indexOf(' ');
  if (space <= 0) return null;
  const value = header.slice(space + 1);
  if (!TOKEN68.test(value)) return null;
  return { scheme: header.slice(0, space).toLowerCase(), value };
}

/** The token of `Authorization: Bearer <token>`, or null for anything else. */
export function bearerToken(header: string | undefined): string | null {
  const parsed = parseAuthorization(header);
  return parsed?.scheme === 'bearer' ? parsed.value : null;
}

// Buffer.from(…, 'base64') skips characters it does not know; only real base64 reaches it.
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The token from `Authorization: Bearer <t>`, or the password of `Authorization: Basic <base64(user:t)>`. */
export function credentialFromAuthorization(header: string | undefined): string | null {
  const parsed = parseAuthorization(header);
  if (parsed === null) return null;
  if (parsed.scheme === 'bearer') return parsed.value;
  if (parsed.scheme !== 'basic' || !BASE64.test(parsed.value)) return null;
  const decoded = Buffer.from(parsed.value, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i === -1 ? null : decoded.slice(i + 1);
}
