import { z } from 'zod';
import { TOKEN68 } from '../common/constant-time';

/**
 * The one schema for every environment variable the server reads. Defaults live here; the rest of the code
 * reads the typed result through AppConfig, never process.env. Error messages name the variable and the rule,
 * never the value (values may be secrets).
 */

const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ invalid_type_error: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`)
    .default(def);

const num = (def: number, min: number, max: number) =>
  z.coerce
    .number({ invalid_type_error: 'must be a number' })
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`)
    .default(def);

/** Empty strings count as unset: `FOO=` in a .env file or a platform UI means "no value". */
const optionalString = () =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const urlWithProtocols = (protocols: string[], label: string) =>
  optionalString().refine(
    (v) => {
      if (v === undefined) return true;
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a ${label} URL (${protocols.map((p) => p + '//').join(' or ')})` },
  );

/**
 * A webhook's secret is its path: a URL that also carries `user:password@` can never work as intended (Slack and
 * Discord ignore it) and puts a second secret where logs and error trackers expect none.
 */
const webhookUrl = () =>
  urlWithProtocols(['https:', 'http:'], 'http(s)').refine(
    (v) => {
      if (v === undefined) return true;
      try {
        const url = new URL(v);
        return url.username === '' && url.password === '';
      } catch {
        return true; // already refused above, with its own message
      }
    },
    { message: 'must not contain credentials (user:password@)' },
  );

/** Webhook URLs: checked for credentials by webhookUrl() and for https in production by crossFieldIssues(). */
const WEBHOOK_VARIABLES = ['SLACK_WEBHOOK', 'DISCORD_WEBHOOK', 'ALERT_WEBHOOK_URL'] as const;

const csv = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    );

/**
 * Express's `trust proxy` in the three forms this server supports: `false` (the default: the TCP peer is the
 * client), `true` (the left-most X-Forwarded-For entry, spoofable by anyone who can reach the server directly) or
 * a number of proxy hops in front of the server (`1` on Railway). `0` is the same as `false`.
 */
const trustProxy = () =>
  optionalString()
    .refine((v) => v === undefined || /^(true|false|\d{1,2})$/i.test(v), {
      message: 'must be true, false or a number of proxy hops (0-99)',
    })
    .transform((v): boolean | number => {
      const lower = v?.toLowerCase() ?? 'false';
      if (lower === 'true') return true;
      if (lower === 'false') return false;
      return Number(lower) || false;
    });

const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * Seconds in a duration written with its unit (`900s`, `15m`, `12h`, `1d`), or null when it is not one. A bare
 * number is refused: the other durations here carry their unit in the name (`_MS`, `_MINUTES`, `_DAYS`), so
 * for a name without one a unitless value would be a guess (seconds, as in the token, or ms, as elsewhere?).
 */
export function parseDurationSeconds(text: string): number | null {
  const m = /^(\d{1,9})(s|m|h|d)$/.exec(text.trim());
  return m === null ? null : Number(m[1]) * DURATION_UNITS[m[2]];
}

const formatSeconds = (s: number) =>
  s % 86_400 === 0
    ? `${s / 86_400}d`
    : s % 3600 === 0
      ? `${s / 3600}h`
      : s % 60 === 0
        ? `${s / 60}m`
        : `${s}s`;

/** A duration with its unit, converted once to seconds. */
const durationSeconds = (def: string, min: number, max: number) =>
  z
    .string()
    .default(def)
    .transform((v, ctx) => {
      const seconds = parseDurationSeconds(v);
      if (seconds === null) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be a whole number with a unit: s, m, h or d (e.g. 12h)',
        });
        return z.NEVER;
      }
      if (seconds < min || seconds > max) {
        ctx.addIssue({
          code: 'custom',
          message: `must be between ${formatSeconds(min)} and ${formatSeconds(max)}`,
        });
        return z.NEVER;
      }
      return seconds;
    });

const threshold = (warning: number, critical: number, max: number) => ({
  warning: num(warning, 0, max),
  critical: num(critical, 0, max),
});

const cpu = threshold(70, 90, 100);
const memory = threshold(80, 95, 100);
const heap = threshold(85, 95, 100);
const errorRate = threshold(1, 5, 100);
const responseTime = threshold(500, 2000, 3_600_000);
const redisLatency = threshold(100, 500, 3_600_000);
const connections = threshold(5000, 10000, 100_000_000);
const eventLoopDelay = threshold(100, 500, 3_600_000);

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const WS_TRANSPORT_NAMES = ['websocket', 'polling'] as const;

const rawSchema = z.object({
  // Foundation
  NODE_ENV: z
    .enum(['development', 'production', 'test'], {
      errorMap: () => ({ message: 'must be one of development, production, test' }),
    })
    .default('development'),
  PORT: int(3000, 0, 65535),
  HOST: z.string().trim().min(1, 'must not be empty').default('0.0.0.0'),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { errorMap: () => ({ message: `must be one of ${LOG_LEVELS.join(', ')}` }) })
    .optional(),
  SERVICE_NAME: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of letters, digits, dot, dash, underscore')
    .default('websocket-server'),
  REDIS_URL: urlWithProtocols(['redis:', 'rediss:'], 'Redis'),
  MONGODB_URI: urlWithProtocols(['mongodb:', 'mongodb+srv:'], 'MongoDB'),
  HEALTH_CHECK_TIMEOUT_MS: int(1000, 50, 60_000),
  SHUTDOWN_TIMEOUT_MS: int(10000, 100, 600_000),
  SHUTDOWN_DRAIN_MS: int(0, 0, 600_000),
  HTTP_HEADERS_TIMEOUT_MS: int(10_000, 100, 600_000),
  HTTP_REQUEST_TIMEOUT_MS: int(30_000, 100, 3_600_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(65_000, 100, 3_600_000),
  HTTP_IDLE_TIMEOUT_MS: int(120_000, 0, 3_600_000),

  // Real-time gateway
  JWT_SECRET: optionalString(),
  // Access tokens live at most this long (exp - iat); 30d is the ceiling because a socket token cannot be revoked.
  JWT_MAX_TOKEN_AGE: durationSeconds('1d', 1, 30 * 86_400),
  JWT_AUDIENCE: optionalString(),
  JWT_ISSUER: optionalString(),
  CORS_ORIGINS: optionalString(),
  // Sent as `Authorization: Bearer <token>`, which only carries these characters; refuse at start, not per request.
  PUBLISH_TOKEN: optionalString().refine((v) => v === undefined || TOKEN68.test(v), {
    message: 'must be letters, digits and - . _ ~ + / only (= allowed at the end)',
  }),
  PUBLISH_BODY_TIMEOUT_MS: int(10_000, 50, 3_600_000),
  WS_MAX_CONNECTIONS_PER_USER: int(10, 1, 100_000),
  WS_MAX_CONNECTIONS: int(10000, 0, 10_000_000),
  WS_MAX_CONNECTIONS_PER_ADDRESS: int(0, 0, 10_000_000),
  TRUST_PROXY: trustProxy(),
  WS_SLOW_EVENT_MS: int(500, 1, 3_600_000),
  WS_MAX_PAYLOAD_BYTES: int(65536, 1024, 100 * 1024 * 1024),
  // At least about four maximum-size events (64 KB data plus envelope), so a burst of large ones never trips it.
  WS_MAX_PENDING_BYTES: int(1_048_576, 262_144, 1024 * 1024 * 1024),
  WS_RATE_LIMIT: num(20, 0.1, 1_000_000),
  WS_RATE_BURST: int(40, 1, 1_000_000),
  WS_TRANSPORTS: csv('websocket,polling'),
  WS_PING_INTERVAL_MS: int(25000, 1000, 600_000),
  WS_PING_TIMEOUT_MS: int(20000, 1000, 600_000),
  WS_CONNECT_TIMEOUT_MS: int(10000, 1000, 600_000),
  WS_BACKLOG_SAMPLE_MS: int(5000, 100, 600_000),

  // Stream positions, history and resume (docs/socket-contract.md#resume)
  // Default 1000 publications kept for 5 minutes: a phone switching networks (seconds) or a replica redeploy
  // (under a minute) at several publications a second per stream is covered with room to spare.
  STREAM_HISTORY_SIZE: int(1000, 1, 100_000),
  STREAM_HISTORY_TTL_MS: int(300_000, 1000, 7 * 86_400_000),
  PUBLISH_IDEMPOTENCY_TTL_MS: int(86_400_000, 1000, 7 * 86_400_000),

  // Replicas
  CLUSTER_HEARTBEAT_MS: int(5000, 100, 600_000),
  CLUSTER_PROBE_INTERVAL_MS: int(5000, 100, 600_000),
  RAILWAY_REPLICA_ID: optionalString(),

  // Metrics
  METRICS_ENABLED: z
    .enum(['true', 'false', '1', '0'], { errorMap: () => ({ message: 'must be true or false' }) })
    .default('true')
    .transform((v) => v === 'true' || v === '1'),
  METRICS_TOKEN: optionalString(),
  HTTP_SLOW_REQUEST_MS: int(1000, 1, 3_600_000),

  // Alerts
  ALERT_REDIS_INTERVAL_MS: int(60000, 100, 86_400_000),
  ALERT_MEMORY_INTERVAL_MS: int(300000, 100, 86_400_000),
  ALERT_EVAL_INTERVAL_MS: int(30000, 100, 86_400_000),
  ALERT_REPEAT_MINUTES: num(60, 1, 100_000),
  ALERT_CPU_WARNING: cpu.warning,
  ALERT_CPU_CRITICAL: cpu.critical,
  ALERT_MEMORY_WARNING: memory.warning,
  ALERT_MEMORY_CRITICAL: memory.critical,
  ALERT_HEAP_WARNING: heap.warning,
  ALERT_HEAP_CRITICAL: heap.critical,
  ALERT_ERROR_RATE_WARNING: errorRate.warning,
  ALERT_ERROR_RATE_CRITICAL: errorRate.critical,
  ALERT_RESPONSE_TIME_WARNING: responseTime.warning,
  ALERT_RESPONSE_TIME_CRITICAL: responseTime.critical,
  ALERT_REDIS_LATENCY_WARNING: redisLatency.warning,
  ALERT_REDIS_LATENCY_CRITICAL: redisLatency.critical,
  ALERT_CONNECTIONS_WARNING: connections.warning,
  ALERT_CONNECTIONS_CRITICAL: connections.critical,
  ALERT_EVENT_LOOP_DELAY_WARNING: eventLoopDelay.warning,
  ALERT_EVENT_LOOP_DELAY_CRITICAL: eventLoopDelay.critical,
  ALERT_NOTIFY_TIMEOUT_MS: int(5000, 100, 60_000),
  SLACK_WEBHOOK: webhookUrl(),
  DISCORD_WEBHOOK: webhookUrl(),
  SMTP_URL: urlWithProtocols(['smtp:', 'smtps:'], 'SMTP'),
  ALERT_EMAIL_TO: optionalString(),
  ALERT_EMAIL_FROM: optionalString(),
  // Alertmanager is often reached over a private network in plain http, so https is not required of it.
  ALERTMANAGER_URL: webhookUrl(),
  ALERT_RUNBOOK_BASE_URL: z.string().trim().min(1, 'must not be empty').default('docs/operations-stack.md'),
  PAGERDUTY_ROUTING_KEY: optionalString(),
  PAGERDUTY_EVENTS_URL: urlWithProtocols(['https:', 'http:'], 'http(s)').transform(
    (v) => v ?? 'https://events.pagerduty.com/v2/enqueue',
  ),
  ALERT_WEBHOOK_URL: webhookUrl(),
  // A receiver checks the HMAC with it; shorter than 32 characters would be guessable offline from one request.
  ALERT_WEBHOOK_SECRET: optionalString().refine((v) => v === undefined || v.length >= 32, {
    message: 'must be at least 32 characters',
  }),

  // Error tracking
  SENTRY_DSN: urlWithProtocols(['https:', 'http:'], 'Sentry DSN'),
  SENTRY_TRACES_SAMPLE_RATE: num(0.1, 0, 1),
  SENTRY_PROFILES_SAMPLE_RATE: num(0.1, 0, 1),

  // History
  METRICS_SNAPSHOT_INTERVAL_MS: int(60000, 100, 86_400_000),
  METRICS_RETENTION_DAYS: int(30, 1, 3650),
  ALERT_RETENTION_DAYS: int(90, 1, 3650),
});

type Raw = z.infer<typeof rawSchema>;

const thresholdNames = [
  'CPU',
  'MEMORY',
  'HEAP',
  'ERROR_RATE',
  'RESPONSE_TIME',
  'REDIS_LATENCY',
  'CONNECTIONS',
  'EVENT_LOOP_DELAY',
] as const;

type Issue = { path: string; message: string };

/** Rules across variables. They run on whatever parsed, so one run names every problem at once. */
function crossFieldIssues(env: Partial<Raw>): Issue[] {
  const issues: Issue[] = [];
  const prod = env.NODE_ENV === 'production';
  if (prod && env.JWT_SECRET === undefined) {
    issues.push({ path: 'JWT_SECRET', message: 'is required in production' });
  } else if (prod && env.JWT_SECRET !== undefined && env.JWT_SECRET.length < 32) {
    issues.push({ path: 'JWT_SECRET', message: 'must be at least 32 characters in production' });
  }
  if (prod && env.CORS_ORIGINS?.split(',').some((o) => o.trim() === '*')) {
    issues.push({ path: 'CORS_ORIGINS', message: "must not contain '*' in production" });
  }
  // Alerts sent in clear text would expose the webhook's secret path to anyone on the way.
  for (const name of WEBHOOK_VARIABLES) {
    const url = env[name];
    if (prod && url !== undefined && !url.toLowerCase().startsWith('https://')) {
      issues.push({ path: name, message: 'must be an https:// URL in production' });
    }
  }
  if (env.WS_TRANSPORTS !== undefined) {
    if (env.WS_TRANSPORTS.length === 0) {
      issues.push({ path: 'WS_TRANSPORTS', message: 'must list at least one transport' });
    } else if (env.WS_TRANSPORTS.some((t) => !(WS_TRANSPORT_NAMES as readonly string[]).includes(t))) {
      issues.push({ path: 'WS_TRANSPORTS', message: 'must list only websocket and polling' });
    }
  }
  issues.push(...httpTimeoutIssues(env));
  for (const name of thresholdNames) {
    const w = env[`ALERT_${name}_WARNING`];
    const c = env[`ALERT_${name}_CRITICAL`];
    if (w !== undefined && c !== undefined && w > c) {
      issues.push({ path: `ALERT_${name}_WARNING`, message: `must not be above ALERT_${name}_CRITICAL` });
    }
  }
  if ((env.ALERT_WEBHOOK_URL === undefined) !== (env.ALERT_WEBHOOK_SECRET === undefined)) {
    const missing = env.ALERT_WEBHOOK_URL === undefined ? 'ALERT_WEBHOOK_URL' : 'ALERT_WEBHOOK_SECRET';
    const other = missing === 'ALERT_WEBHOOK_URL' ? 'ALERT_WEBHOOK_SECRET' : 'ALERT_WEBHOOK_URL';
    issues.push({ path: missing, message: `must be set together with ${other}` });
  }
  if ((env.SMTP_URL === undefined) !== (env.ALERT_EMAIL_TO === undefined)) {
    const missing = env.SMTP_URL === undefined ? 'SMTP_URL' : 'ALERT_EMAIL_TO';
    const other = missing === 'SMTP_URL' ? 'ALERT_EMAIL_TO' : 'SMTP_URL';
    issues.push({ path: missing, message: `must be set together with ${other}` });
  }
  return issues;
}

/**
 * The HTTP timeouts only work together: Node checks headers and whole requests against the same clock, a
 * POST /events body deadline at or past the request timeout would be cut silently by Node instead (no log
 * line, no 408 through the app), and a long-polling GET is held open without traffic for up to one ping
 * interval, so a shorter idle timeout would cut every polling client.
 */
function httpTimeoutIssues(env: Partial<Raw>): Issue[] {
  const issues: Issue[] = [];
  const request = env.HTTP_REQUEST_TIMEOUT_MS;
  if (
    request !== undefined &&
    env.HTTP_HEADERS_TIMEOUT_MS !== undefined &&
    env.HTTP_HEADERS_TIMEOUT_MS > request
  ) {
    issues.push({ path: 'HTTP_HEADERS_TIMEOUT_MS', message: 'must not be above HTTP_REQUEST_TIMEOUT_MS' });
  }
  if (
    request !== undefined &&
    env.PUBLISH_BODY_TIMEOUT_MS !== undefined &&
    env.PUBLISH_BODY_TIMEOUT_MS >= request
  ) {
    issues.push({ path: 'PUBLISH_BODY_TIMEOUT_MS', message: 'must be below HTTP_REQUEST_TIMEOUT_MS' });
  }
  const idle = env.HTTP_IDLE_TIMEOUT_MS;
  const polling = env.WS_TRANSPORTS === undefined || env.WS_TRANSPORTS.includes('polling');
  if (
    idle !== undefined &&
    idle !== 0 &&
    polling &&
    env.WS_PING_INTERVAL_MS !== undefined &&
    idle <= env.WS_PING_INTERVAL_MS
  ) {
    issues.push({
      path: 'HTTP_IDLE_TIMEOUT_MS',
      message: 'must be 0 or above WS_PING_INTERVAL_MS while polling is allowed (a poll waits that long)',
    });
  }
  return issues;
}

function finish(env: Raw) {
  return { ...env, LOG_LEVEL: env.LOG_LEVEL ?? (env.NODE_ENV === 'development' ? 'debug' : 'info') };
}

export type Env = ReturnType<typeof finish>;

export interface EnvProblem {
  variable: string;
  problem: string;
}

export class ConfigValidationError extends Error {
  constructor(readonly problems: EnvProblem[]) {
    super(`Invalid configuration: ${problems.map((p) => `${p.variable} ${p.problem}`).join('; ')}`);
    this.name = 'ConfigValidationError';
  }
}

/** Parses and validates an environment. Throws ConfigValidationError naming every failing variable. */
export function parseEnv(source: Record<string, string | undefined>): Env {
  const result = rawSchema.safeParse(source);
  const problems: EnvProblem[] = [];
  let partial: Partial<Raw>;
  if (result.success) {
    partial = result.data;
  } else {
    for (const issue of result.error.issues) {
      problems.push({ variable: String(issue.path[0] ?? 'environment'), problem: issue.message });
    }
    // Parse each variable alone so the cross-variable rules still see every value that is valid by itself.
    const loose: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(rawSchema.shape)) {
      const one = (schema as z.ZodTypeAny).safeParse(source[key]);
      if (one.success) loose[key] = one.data;
    }
    partial = loose;
  }
  for (const issue of crossFieldIssues(partial)) {
    if (!problems.some((p) => p.variable === issue.path))
      problems.push({ variable: issue.path, problem: issue.message });
  }
  if (problems.length > 0) throw new ConfigValidationError(problems);
  return finish(partial as Raw);
}

/** Every variable name the schema reads, for documentation checks. */
export const ENV_VARIABLE_NAMES: readonly string[] = Object.keys(rawSchema.shape);
