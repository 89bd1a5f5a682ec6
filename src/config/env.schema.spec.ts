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
});
