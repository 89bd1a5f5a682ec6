import { AppConfig } from './app-config';
import { ConfigValidationError, parseEnv } from './env.schema';

describe('parseEnv', () => {
  it('applies every default with an empty environment', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      NODE_ENV: 'development',
      PORT: 3000,
      HOST: '0.0.0.0',
      LOG_LEVEL: 'debug',
      SERVICE_NAME: 'websocket-server',
      HEALTH_CHECK_TIMEOUT_MS: 1000,
      SHUTDOWN_TIMEOUT_MS: 10000,
      WS_MAX_CONNECTIONS_PER_USER: 10,
      WS_TRANSPORTS: ['websocket', 'polling'],
      ALERT_CPU_WARNING: 70,
      ALERT_CPU_CRITICAL: 90,
    });
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.MONGODB_URI).toBeUndefined();
  });

  it('defaults LOG_LEVEL to info outside development', () => {
    expect(parseEnv({ NODE_ENV: 'test' }).LOG_LEVEL).toBe('info');
  });

  it('treats empty strings as unset', () => {
    const env = parseEnv({ REDIS_URL: '', MONGODB_URI: '  ' });
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.MONGODB_URI).toBeUndefined();
  });

  it('names every failing variable with its reason and never its value', () => {
    const secret = 'redis://:hunter2-super-secret@nowhere';
    let error: unknown;
    try {
      parseEnv({
        PORT: 'eighty',
        REDIS_URL: secret.replace('redis', 'http'),
        LOG_LEVEL: 'loud',
        NODE_ENV: 'staging',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigValidationError);
    const problems = (error as ConfigValidationError).problems;
    expect(problems.map((p) => p.variable).sort()).toEqual(['LOG_LEVEL', 'NODE_ENV', 'PORT', 'REDIS_URL']);
    expect((error as Error).message).not.toContain('hunter2');
    expect((error as Error).message).toContain('PORT must be a number');
    expect((error as Error).message).toContain('REDIS_URL must be a Redis URL');
  });

  it('requires a JWT_SECRET of at least 32 characters in production and refuses a * origin there', () => {
    expect(() => parseEnv({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET is required in production/);
    expect(() => parseEnv({ NODE_ENV: 'production', JWT_SECRET: 'short' })).toThrow(/at least 32 characters/);
    expect(() =>
      parseEnv({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), CORS_ORIGINS: 'https://a.example,*' }),
    ).toThrow(/CORS_ORIGINS must not contain/);
    expect(parseEnv({ NODE_ENV: 'development', CORS_ORIGINS: '*' }).CORS_ORIGINS).toBe('*');
  });

  it('reads JWT_MAX_TOKEN_AGE as a duration with its unit, in seconds, 1s to 30d (default 1d)', () => {
    expect(parseEnv({}).JWT_MAX_TOKEN_AGE).toBe(86_400);
    expect(parseEnv({ JWT_MAX_TOKEN_AGE: '900s' }).JWT_MAX_TOKEN_AGE).toBe(900);
    expect(parseEnv({ JWT_MAX_TOKEN_AGE: '15m' }).JWT_MAX_TOKEN_AGE).toBe(900);
    expect(parseEnv({ JWT_MAX_TOKEN_AGE: ' 12h ' }).JWT_MAX_TOKEN_AGE).toBe(43_200);
    expect(parseEnv({ JWT_MAX_TOKEN_AGE: '30d' }).JWT_MAX_TOKEN_AGE).toBe(30 * 86_400);
    for (const unitless of ['86400', '1.5h', '1 d', '1w', '-1d']) {
      expect(() => parseEnv({ JWT_MAX_TOKEN_AGE: unitless })).toThrow(
        /JWT_MAX_TOKEN_AGE must be a whole number with a unit/,
      );
    }
    expect(() => parseEnv({ JWT_MAX_TOKEN_AGE: '31d' })).toThrow(
      /JWT_MAX_TOKEN_AGE must be between 1s and 30d/,
    );
    expect(() => parseEnv({ JWT_MAX_TOKEN_AGE: '0s' })).toThrow(
      /JWT_MAX_TOKEN_AGE must be between 1s and 30d/,
    );
  });

  it('takes JWT_AUDIENCE and JWT_ISSUER as optional strings', () => {
    const unset = parseEnv({});
    expect(unset.JWT_AUDIENCE).toBeUndefined();
    expect(unset.JWT_ISSUER).toBeUndefined();
    expect(parseEnv({ JWT_AUDIENCE: ' trading-ws ', JWT_ISSUER: 'https://auth.example' })).toMatchObject({
      JWT_AUDIENCE: 'trading-ws',
      JWT_ISSUER: 'https://auth.example',
    });
  });

  it('refuses a PUBLISH_TOKEN that cannot be sent as a Bearer token, without echoing it', () => {
    expect(parseEnv({ PUBLISH_TOKEN: 'aB3-._~+/xyz==' }).PUBLISH_TOKEN).toBe('aB3-._~+/xyz==');
    expect(() => parseEnv({ PUBLISH_TOKEN: 'has space-secret' })).toThrow(
      /^(?!.*secret).*PUBLISH_TOKEN must be/,
    );
  });

  it('rejects a warning threshold above its critical one', () => {
    expect(() => parseEnv({ ALERT_CPU_WARNING: '95', ALERT_CPU_CRITICAL: '90' })).toThrow(
      /ALERT_CPU_WARNING must not be above ALERT_CPU_CRITICAL/,
    );
  });

  it('rejects unknown transports and out-of-range numbers', () => {
    expect(() => parseEnv({ WS_TRANSPORTS: 'websocket,carrier-pigeon' })).toThrow(/WS_TRANSPORTS/);
    expect(() => parseEnv({ PORT: '70000' })).toThrow(/PORT must be at most 65535/);
    expect(() => parseEnv({ HEALTH_CHECK_TIMEOUT_MS: '1.5' })).toThrow(/whole number/);
  });

  it('keeps the HTTP timeouts consistent with each other and with long polling', () => {
    expect(parseEnv({})).toMatchObject({
      HTTP_HEADERS_TIMEOUT_MS: 10_000,
      HTTP_REQUEST_TIMEOUT_MS: 30_000,
      HTTP_KEEP_ALIVE_TIMEOUT_MS: 65_000,
      HTTP_IDLE_TIMEOUT_MS: 120_000,
      PUBLISH_BODY_TIMEOUT_MS: 10_000,
    });
    expect(() => parseEnv({ HTTP_HEADERS_TIMEOUT_MS: '40000' })).toThrow(
      /HTTP_HEADERS_TIMEOUT_MS must not be above HTTP_REQUEST_TIMEOUT_MS/,
    );
    expect(() => parseEnv({ PUBLISH_BODY_TIMEOUT_MS: '30000' })).toThrow(
      /PUBLISH_BODY_TIMEOUT_MS must be below HTTP_REQUEST_TIMEOUT_MS/,
    );
    expect(() => parseEnv({ HTTP_IDLE_TIMEOUT_MS: '25000' })).toThrow(
      /HTTP_IDLE_TIMEOUT_MS must be 0 or above/,
    );
    expect(parseEnv({ HTTP_IDLE_TIMEOUT_MS: '0' }).HTTP_IDLE_TIMEOUT_MS).toBe(0);
    expect(parseEnv({ HTTP_IDLE_TIMEOUT_MS: '500', WS_TRANSPORTS: 'websocket' }).HTTP_IDLE_TIMEOUT_MS).toBe(
      500,
    );
  });

  it('requires SMTP_URL and ALERT_EMAIL_TO together', () => {
    expect(() => parseEnv({ SMTP_URL: 'smtp://127.0.0.1:25' })).toThrow(
      /ALERT_EMAIL_TO must be set together/,
    );
  });

  it('refuses a webhook URL that can never work, naming the variable and never the URL', () => {
    const problemsOf = (source: Record<string, string>): string[] => {
      try {
        parseEnv(source);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigValidationError);
        expect((e as Error).message).not.toMatch(/hunter2|hooks\.example|T000|webhook-path/);
        return (e as ConfigValidationError).problems.map((p) => `${p.variable} ${p.problem}`);
      }
      return [];
    };
    const prod = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) };
    // Credentials in the URL: refused everywhere.
    expect(
      problemsOf({
        SLACK_WEBHOOK: 'https://ops:hunter2@hooks.example/services/T000/B000/webhook-path',
        DISCORD_WEBHOOK: 'https://hunter2@hooks.example/api/webhooks/1/webhook-path',
      }),
    ).toEqual([
      'SLACK_WEBHOOK must not contain credentials (user:password@)',
      'DISCORD_WEBHOOK must not contain credentials (user:password@)',
    ]);
    // Clear text: refused in production, allowed elsewhere (tests and local receivers use http://127.0.0.1).
    expect(
      problemsOf({
        ...prod,
        SLACK_WEBHOOK: 'http://hooks.example/services/T000/B000/webhook-path',
        DISCORD_WEBHOOK: 'HTTP://hooks.example/api/webhooks/1/webhook-path',
      }),
    ).toEqual([
      'SLACK_WEBHOOK must be an https:// URL in production',
      'DISCORD_WEBHOOK must be an https:// URL in production',
    ]);
    expect(problemsOf({ SLACK_WEBHOOK: 'http://127.0.0.1:9999/services/T000/B000/webhook-path' })).toEqual(
      [],
    );
    expect(
      problemsOf({
        ...prod,
        SLACK_WEBHOOK: 'https://hooks.example/services/T000/B000/webhook-path',
        DISCORD_WEBHOOK: 'https://hooks.example/api/webhooks/1/webhook-path',
      }),
    ).toEqual([]);
  });
  it('requires the signed webhook URL and its secret together, the secret long enough, never echoing either', () => {
    const problems = (source: Record<string, string>): string[] => {
      try {
        parseEnv(source);
        return [];
      } catch (e) {
        expect((e as Error).message).not.toMatch(/short-secret|hooks\.example/);
        return (e as ConfigValidationError).problems.map((p) => `${p.variable} ${p.problem}`);
      }
    };
    expect(problems({ ALERT_WEBHOOK_URL: 'https://hooks.example/a' })).toEqual([
      'ALERT_WEBHOOK_SECRET must be set together with ALERT_WEBHOOK_URL',
    ]);
    expect(
      problems({ ALERT_WEBHOOK_URL: 'https://hooks.example/a', ALERT_WEBHOOK_SECRET: 'short-secret' }),
    ).toEqual(['ALERT_WEBHOOK_SECRET must be at least 32 characters']);
    expect(parseEnv({}).PAGERDUTY_EVENTS_URL).toBe('https://events.pagerduty.com/v2/enqueue');
  });
});

describe('TRUST_PROXY', () => {
  const parse = (v: string | undefined) => parseEnv({ TRUST_PROXY: v }).TRUST_PROXY;

  it('reads false, true or a hop count; unset, empty and 0 mean off', () => {
    expect(parse(undefined)).toBe(false);
    expect(parse('')).toBe(false);
    expect(parse('0')).toBe(false);
    expect(parse('false')).toBe(false);
    expect(parse('TRUE')).toBe(true);
    expect(parse('1')).toBe(1);
    expect(parse('2')).toBe(2);
  });

  it('refuses anything else, naming the variable', () => {
    expect(() => parse('yes')).toThrow('TRUST_PROXY must be true, false or a number of proxy hops');
    expect(() => parse('loopback')).toThrow('TRUST_PROXY');
  });
});

describe('AppConfig sections', () => {
  it('convert units once: a use site reads milliseconds and bytes', () => {
    const config = AppConfig.from({
      ALERT_REPEAT_MINUTES: '1.5',
      WS_PING_INTERVAL_MS: '20000',
      WS_PING_TIMEOUT_MS: '5000',
      WS_MAX_PENDING_BYTES: '524288',
      HTTP_REQUEST_TIMEOUT_MS: '45000',
      ALERT_CPU_WARNING: '60',
      ALERT_CPU_CRITICAL: '85',
    });
    expect(config.alerts.repeatMs).toBe(90_000);
    expect(config.alerts.cpu).toEqual({ warning: 60, critical: 85 });
    expect(config.ws.heartbeatAllowanceMs).toBe(25_000);
    expect(config.ws.maxPendingBytes).toBe(524_288);
    expect(config.http.requestTimeoutMs).toBe(45_000);
  });

  it('give history retention in days for people and in seconds for TTL indexes', () => {
    const { history } = AppConfig.from({ METRICS_RETENTION_DAYS: '7', ALERT_RETENTION_DAYS: '30' });
    expect(history).toMatchObject({ metricsRetentionDays: 7, metricsRetentionSeconds: 7 * 86_400 });
    expect(history.alertRetentionSeconds).toBe(30 * 86_400);
  });

  it('carry the schema defaults', () => {
    const { ws, http, alerts } = AppConfig.from({});
    expect(ws).toMatchObject({
      maxConnectionsPerUser: 10,
      transports: ['websocket', 'polling'],
      rateBurst: 40,
    });
    expect(http).toMatchObject({ trustProxy: false, headersTimeoutMs: 10_000 });
    expect(alerts.repeatMs).toBe(60 * 60_000);
  });
});
