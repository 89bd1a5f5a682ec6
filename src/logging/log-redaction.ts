/**
 * What never reaches a log line. Header names and any field whose name says it holds a secret are censored by
 * pino's redaction (paths compiled once at start-up); URLs lose the values of secret-looking query parameters.
 */
export const SECRET_KEY_PATTERN =
  /token|secret|password|passwd|dsn|webhook|authorization|cookie|api[-_]?key/i;

const SECRET_FIELD_NAMES = [
  'token',
  'accessToken',
  'refreshToken',
  'secret',
  'password',
  'dsn',
  'webhook',
  'authorization',
  'cookie',
  'JWT_SECRET',
  'PUBLISH_TOKEN',
  'METRICS_TOKEN',
  'SENTRY_DSN',
  'SLACK_WEBHOOK',
  'DISCORD_WEBHOOK',
  'SMTP_URL',
  'ALERTMANAGER_URL',
  'PAGERDUTY_ROUTING_KEY',
  'routing_key',
  'ALERT_WEBHOOK_URL',
  'ALERT_WEBHOOK_SECRET',
  'REDIS_URL',
  'MONGODB_URI',
];

export const REDACT_PATHS: string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  ...SECRET_FIELD_NAMES.flatMap((name) => [name, `*.${name}`, `*.*.${name}`]),
];

export const REDACTED = '[REDACTED]';

/** Replaces the values of secret-looking query parameters in a URL path, e.g. `/x?token=abc` → `/x?token=[REDACTED]`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq === -1 ? pair : pair.slice(0, eq);
      return eq !== -1 && SECRET_KEY_PATTERN.test(decodeSafe(key)) ? `${key}=${REDACTED}` : pair;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const URL_CREDENTIALS = /^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i;

/**
 * Censors, in a log line's own fields, every value whose key looks like a secret (SECRET_KEY_PATTERN) and the
 * credentials of any URL (`redis://:pw@host` → `redis://[REDACTED]@host`), at any depth of plain objects and
 * arrays. Class instances (requests, errors) are left to their serializers and the fixed redaction paths.
 */
export function censorSecrets(obj: Record<string, unknown>): Record<string, unknown> {
  return censorValue(obj, 0) as Record<string, unknown>;
}

function censorValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string')
    return URL_CREDENTIALS.test(value) ? value.replace(URL_CREDENTIALS, `$1${REDACTED}@`) : value;
  if (depth > 6 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => censorValue(v, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] =
      SECRET_KEY_PATTERN.test(key) && v !== undefined && v !== null ? REDACTED : censorValue(v, depth + 1);
  }
  return out;
}
