import { createHmac, createSecretKey } from 'node:crypto';
import type { JwtPolicy } from '../config/app-config';
import { CLOCK_SKEW_SECONDS, verifyAccessToken } from './socket-auth';

const SECRET = 'socket-auth-spec-secret-0123456789abcdef';
const NOW = 1_800_000_000; // seconds; every case is judged at this instant
const DAY = 86_400;

/** Signs any claims, even ones jsonwebtoken's sign() would refuse to write (a string `iat`, `1e400`). */
function hs256(claims: Record<string, unknown> | string): string {
  const part = (v: string) => Buffer.from(v).toString('base64url');
  const body = typeof claims === 'string' ? claims : JSON.stringify(claims);
  const input = `${part(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${part(body)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
}

const policy = (overrides: Partial<JwtPolicy> = {}): JwtPolicy => ({
  key: createSecretKey(Buffer.from(SECRET)),
  maxAgeSeconds: DAY,
  audience: undefined,
  issuer: undefined,
  ...overrides,
});

const verify = (claims: Record<string, unknown> | string, p = policy()) =>
  verifyAccessToken(hs256(claims), p, NOW * 1000);

const valid = { sub: 'alice', iat: NOW - 60, exp: NOW + 3600 };

describe(verifyAccessToken.name, () => {
  it('accepts a well-formed token and returns its identity', () => {
    expect(verify({ ...valid, portfolios: ['p1', 'p2'] })).toEqual({
      userId: 'alice',
      portfolios: new Set(['p1', 'p2']),
      expiresAt: (NOW + 3600) * 1000,
    });
  });

  const accepted: Array<[string, Record<string, unknown>, Partial<JwtPolicy>?]> = [
    ['no iat (exp - now within the limit)', { sub: 'alice', exp: NOW + DAY }],
    ['a lifetime of exactly the limit', { sub: 'alice', iat: NOW - 10, exp: NOW - 10 + DAY }],
    ['iat within the clock skew ahead', { ...valid, iat: NOW + CLOCK_SKEW_SECONDS }],
    ['nbf within the clock skew ahead', { ...valid, nbf: NOW + CLOCK_SKEW_SECONDS }],
    ['nbf in the past', { ...valid, nbf: NOW - 60 }],
    ['fractional times', { sub: 'alice', iat: NOW - 0.5, nbf: NOW + 0.25, exp: NOW + 0.001 }],
    ['any aud and iss while JWT_AUDIENCE/JWT_ISSUER are unset', { ...valid, aud: 'refresh', iss: 'x' }],
    ['the configured aud', { ...valid, aud: 'trading-ws' }, { audience: 'trading-ws' }],
    [
      'the configured aud among several',
      { ...valid, aud: ['api', 'trading-ws'] },
      { audience: 'trading-ws' },
    ],
    ['the configured iss', { ...valid, iss: 'https://auth.example' }, { issuer: 'https://auth.example' }],
    ['a shorter JWT_MAX_TOKEN_AGE that fits', { ...valid, exp: NOW + 60 }, { maxAgeSeconds: 120 }],
  ];
  // Rows are spread into a rest parameter: jest takes a callback with more parameters than the row for `done`.
  it.each(accepted)('accepts %s', (...[, claims, overrides]) => {
    expect(verify(claims, policy(overrides))).not.toBeNull();
  });

  const refused: Array<[string, Record<string, unknown> | string, Partial<JwtPolicy>?]> = [
    ['no exp (valid forever)', { sub: 'alice', iat: NOW }],
    ['exp null', { ...valid, exp: null }],
    ['exp as a string', { ...valid, exp: String(NOW + 3600) }],
    ['exp overflowing to Infinity', '{"sub":"alice","exp":1e400}'],
    ['exp now', { ...valid, exp: NOW }],
    ['a fractional exp just passed', { ...valid, exp: NOW - 0.001 }],
    ['iat ten years ahead', { sub: 'alice', iat: NOW + 10 * 365 * DAY, exp: NOW + 10 * 365 * DAY + 60 }],
    ['iat just beyond the clock skew', { ...valid, iat: NOW + CLOCK_SKEW_SECONDS + 0.01 }],
    ['iat as a string', { ...valid, iat: 'yesterday' }],
    ['iat null', { ...valid, iat: null }],
    ['nbf beyond the clock skew', { ...valid, nbf: NOW + CLOCK_SKEW_SECONDS + 1 }],
    ['nbf as a string', { ...valid, nbf: String(NOW) }],
    ['a lifetime one second over the limit', { sub: 'alice', iat: NOW - 10, exp: NOW - 9 + DAY }],
    ['no iat and exp beyond now + the limit', { sub: 'alice', exp: NOW + DAY + 1 }],
    [
      'an old iat with a fresh exp (lifetime over the limit)',
      { sub: 'alice', iat: NOW - 2 * DAY, exp: NOW + 60 },
    ],
    ['a lifetime over a shorter limit', { ...valid, exp: NOW + 3600 }, { maxAgeSeconds: 600 }],
    ['no aud when one is required', valid, { audience: 'trading-ws' }],
    ['another aud (a refresh token)', { ...valid, aud: 'refresh' }, { audience: 'trading-ws' }],
    ['a list without the aud', { ...valid, aud: ['api', 'refresh'] }, { audience: 'trading-ws' }],
    [
      'an aud that only contains the expected one',
      { ...valid, aud: 'trading-ws-2' },
      { audience: 'trading-ws' },
    ],
    ['no iss when one is required', valid, { issuer: 'https://auth.example' }],
    ['another iss', { ...valid, iss: 'https://evil.example' }, { issuer: 'https://auth.example' }],
    ['iss as a list', { ...valid, iss: ['https://auth.example'] }, { issuer: 'https://auth.example' }],
    ['no sub', { iat: valid.iat, exp: valid.exp }],
    ['a payload that is not an object', '"alice"'],
  ];
  it.each(refused)('refuses %s', (...[, claims, overrides]) => {
    expect(verify(claims, policy(overrides))).toBeNull();
  });

  it('refuses what is not an HS256 token signed with the key', () => {
    expect(verifyAccessToken(undefined, policy(), NOW * 1000)).toBeNull();
    expect(verifyAccessToken('', policy(), NOW * 1000)).toBeNull();
    const [header, body, signature] = hs256(valid).split('.');
    const forged = `${header}.${body}.${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    expect(verifyAccessToken(forged, policy(), NOW * 1000)).toBeNull();
  });
});
