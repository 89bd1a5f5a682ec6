import request from 'supertest';
import { Controller, Get, Logger, Module } from '@nestjs/common';
import { BASE_TEST_ENV, createTestApp, TestApp } from './utils/test-app';
import { LogCapture, logBarrier } from './utils/log-capture';

const SECRET_TOKEN = 'sup3r-s3cret-bearer-value';
const COOKIE = 'session=very-private-cookie';

@Controller('log-probe')
class LogProbeController {
  private readonly logger = new Logger('LogProbe');

  @Get()
  probe() {
    this.logger.log({
      message: 'inside handler',
      token: 'leaky-token',
      nested: { password: 'leaky-password' },
      upstream: { headers: { authorization: 'Bearer leaky-authorization' } },
    });
    this.logger.error({ message: 'handled failure', err: new Error('probe failure') });
    return { ok: true };
  }
}

@Module({ controllers: [LogProbeController] })
class LogProbeModule {}

describe('Logging (e2e)', () => {
  const logs = new LogCapture();
  let t: TestApp;

  beforeAll(async () => {
    logs.start();
    t = await createTestApp({ LOG_LEVEL: 'info', PUBLISH_TOKEN: 'publish-token' });
  });
  afterAll(async () => {
    await t.close();
    logs.stop();
  });

  it('reuses a well-formed x-request-id, echoes it, and tags the request line with it', async () => {
    const res = await request(t.url).get('/health/ready').set('x-request-id', 'req-abc-123').expect(200);
    expect(res.headers['x-request-id']).toBe('req-abc-123');
    const res2 = await request(t.url).get('/nope').set('x-request-id', 'req-def-456').expect(404);
    expect(res2.headers['x-request-id']).toBe('req-def-456');
    const line = logs.lines.find((l) => l.requestId === 'req-def-456');
    expect(line).toMatchObject({ level: 'info', message: 'GET /nope 404', requestId: 'req-def-456' });
    expect(typeof line?.timestamp).toBe('string');
    expect(new Date(line?.timestamp as string).toISOString()).toBe(line?.timestamp);
  });

  it('replaces a malformed x-request-id (header injection) with a generated one', async () => {
    const res = await request(t.url).get('/nope').set('x-request-id', 'a b<script>').expect(404);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const res2 = await request(t.url).get('/nope').expect(404);
    expect(res2.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(res2.headers['x-request-id']).not.toBe(res.headers['x-request-id']);
  });

  it('does not log health checks at info', async () => {
    const before = logs.lines.length;
    await request(t.url).get('/health').set('x-request-id', 'health-probe-1').expect(200);
    await request(t.url).get('/health/redis').set('x-request-id', 'health-probe-2').expect(503);
    await logBarrier(t.url, logs);
    const after = logs.lines.slice(before);
    expect(after.filter((l) => l.requestId === 'health-probe-1' || l.requestId === 'health-probe-2')).toEqual(
      [],
    );
  });

  it('never writes authorization, cookies or secret-named fields', async () => {
    await request(t.url)
      .get(`/nope?token=${SECRET_TOKEN}&page=2`)
      .set('authorization', `Bearer ${SECRET_TOKEN}`)
      .set('cookie', COOKIE)
      .expect(404);
    await logBarrier(t.url, logs);
    expect(logs.text).not.toContain(SECRET_TOKEN);
    expect(logs.text).not.toContain('very-private-cookie');
    expect(logs.text).toContain('token=[REDACTED]&page=2');
  });

  it('invalid JSON is a 400 and an oversized body a 413, with JSON bodies, and neither is logged as a server error', async () => {
    const before = logs.lines.length;
    const bad = await request(t.url)
      .post('/events')
      .set('authorization', 'Bearer publish-token')
      .set('content-type', 'application/json')
      .send('{"event": "trade:executed",')
      .expect(400);
    expect(bad.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    const huge = await request(t.url)
      .post('/events')
      .set('authorization', 'Bearer publish-token')
      .set('content-type', 'application/json')
      .send(JSON.stringify({ event: 'trade:executed', userId: 'u', data: { blob: 'x'.repeat(2_000_000) } }))
      .expect(413);
    expect(huge.body).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
    await logBarrier(t.url, logs);
    expect(logs.lines.slice(before).filter((l) => l.level === 'error')).toEqual([]);
  });
});

describe('Logging inside handlers (e2e)', () => {
  const logs = new LogCapture();
  beforeAll(() => logs.start());
  afterAll(() => logs.stop());

  it('service log lines carry the request id, errors carry error and stack, secret fields are censored', async () => {
    // Mount the probe controller on a dedicated app that also imports AppModule, as a feature module would.
    const { Test } = await import('@nestjs/testing');
    const { AppModule } = await import('../src/app.module');
    const { AppConfig } = await import('../src/config/app-config');
    const { APP_OPTIONS, configureApp } = await import('../src/app.setup');
    const moduleRef = await Test.createTestingModule({ imports: [AppModule, LogProbeModule] })
      .overrideProvider(AppConfig)
      .useValue(AppConfig.from({ ...BASE_TEST_ENV, LOG_LEVEL: 'info' }))
      .compile();
    const app = moduleRef.createNestApplication(APP_OPTIONS);
    await configureApp(app);
    await app.listen(0, '127.0.0.1');
    try {
      const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      await request(url).get('/log-probe').set('x-request-id', 'probe-req-1').expect(200);
      const inside = logs.find('inside handler')[0];
      expect(inside).toMatchObject({
        level: 'info',
        requestId: 'probe-req-1',
        context: 'LogProbe',
        token: '[REDACTED]',
      });
      expect(inside.nested).toEqual({ password: '[REDACTED]' });
      expect(inside.upstream).toEqual({ headers: { authorization: '[REDACTED]' } });
      const failure = logs.find('handled failure')[0];
      expect(failure).toMatchObject({ level: 'error', requestId: 'probe-req-1', error: 'probe failure' });
      expect(String(failure.stack)).toContain('Error: probe failure');
      expect(logs.text).not.toContain('leaky-token');
      expect(logs.text).not.toContain('leaky-password');
      expect(logs.text).not.toContain('leaky-authorization');
    } finally {
      await app.close();
    }
  });
});

describe('Deliberate 503s in the request log (e2e)', () => {
  const logs = new LogCapture();
  let t: TestApp;
  beforeAll(async () => {
    logs.start();
    t = await createTestApp({ LOG_LEVEL: 'info' });
  });
  afterAll(async () => {
    await t.close();
    logs.stop();
  });

  it('are logged at warn, without an invented error or stack', async () => {
    await request(t.url)
      .post('/events')
      .set('x-request-id', 'disabled-publish-1')
      .send({ event: 'trade:executed', userId: 'u', data: {} })
      .expect(503);
    await logs.waitForLine((l) => l.requestId === 'disabled-publish-1');
    const line = logs.lines.find(
      (l) => l.requestId === 'disabled-publish-1' && l.message === 'POST /events 503',
    );
    expect(line).toMatchObject({ level: 'warn', res: { statusCode: 503 } });
    expect(line).not.toHaveProperty('stack');
    expect(line).not.toHaveProperty('error');
  });
});
