import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { RedisMetrics } from '../src/health/redis.metrics';
import { RedisService } from '../src/redis/redis.service';
import { LogCapture } from './utils/log-capture';
import { PublishTraffic } from './utils/publish-traffic';
import { RedisTestServer } from './utils/redis-server';
import { exposition, expectServerServes, sampleValue } from './utils/server-checks';
import { SilentTcpServer } from './utils/silent-server';
import { closeAll, collect, connectClient, emitAck, nextEvent, sleep, waitFor } from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

const PUBLISH_TOKEN = 'fault-redis-publish-token-0123456789';
const HEALTH_TIMEOUT_MS = 500;
/** What a request may take while Redis misbehaves: the longest Redis timeout in the app (2 s) plus slack. */
const ANSWER_WITHIN_MS = 3000;
const CLIENTS = 5;

const env = (redisUrl: string, id: string) => ({
  REDIS_URL: redisUrl,
  PUBLISH_TOKEN,
  RAILWAY_REPLICA_ID: id,
  HEALTH_CHECK_TIMEOUT_MS: String(HEALTH_TIMEOUT_MS),
  WS_TRANSPORTS: 'websocket',
  WS_RATE_LIMIT: '1000',
  WS_RATE_BURST: '1000',
  LOG_LEVEL: 'info',
});

async function timed<T>(what: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await what();
  return { value, ms: performance.now() - started };
}

const get = (url: string, path: string) => request(url).get(path).timeout(10_000);

describe('Fault: Redis under traffic (e2e)', () => {
  const redis = new RedisTestServer();
  const logs = new LogCapture();
  let a: TestApp;
  let b: TestApp;
  const sockets: Socket[] = [];
  let n = 0;

  /** CLIENTS sockets on A subscribed to `portfolio`, each collecting its updates; one on B too. */
  async function audience(portfolio: string) {
    const onA: Socket[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const s = await connectClient(a.url, `listener-${++n}`, [portfolio]);
      sockets.push(s);
      await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: portfolio })).resolves.toMatchObject({
        ok: true,
      });
      onA.push(s);
    }
    const onB = await connectClient(b.url, `remote-${++n}`, [portfolio]);
    sockets.push(onB);
    await expect(emitAck(onB, 'portfolio:subscribe', { portfolioId: portfolio })).resolves.toMatchObject({
      ok: true,
    });
    const received = onA.map((s) => collect<{ data: { seq: number } }>(s, 'portfolio:update'));
    return { onA, onB, received };
  }

  /** A publish on A reaches the client on B: cross-instance delivery works (again). */
  async function expectCrossInstance(onB: Socket, portfolio: string, timeoutMs: number) {
    await waitFor(
      async () => {
        const got = nextEvent(onB, 'portfolio:update', 500).then(
          () => true,
          () => false,
        );
        await request(a.url)
          .post('/events')
          .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
          .send({ event: 'portfolio:update', portfolioId: portfolio, data: { probe: true } });
        return got;
      },
      timeoutMs,
      100,
    );
  }

  /** Every local client stayed connected and got every publish, in order: nothing held was lost. */
  function expectNothingLost(
    onA: Socket[],
    received: Array<{ items: Array<{ data: { seq: number } }> }>,
    sent: number,
  ) {
    for (const s of onA) expect(s.connected).toBe(true);
    const expected = Array.from({ length: sent }, (_, i) => i);
    // (expectCrossInstance's probes carry no seq.)
    for (const r of received)
      expect(r.items.map((u) => u.data.seq).filter((x) => x !== undefined)).toEqual(expected);
  }

  async function expectRedisReportedDown(app: TestApp) {
    const redisHealth = await timed(() => get(app.url, '/health/redis'));
    expect(redisHealth.value.status).toBe(503);
    expect(redisHealth.value.body).toMatchObject({ status: 'unhealthy', error: expect.any(String) });
    expect(redisHealth.ms).toBeLessThan(HEALTH_TIMEOUT_MS + 1000);
    const ready = await timed(() => get(app.url, '/health/ready'));
    expect(ready.value.status).toBe(503);
    expect(ready.value.body.error).toMatchObject({ redis: { status: 'down' } });
    expect(ready.ms).toBeLessThan(HEALTH_TIMEOUT_MS + 1000);
    await get(app.url, '/health').expect(200);

    const sampled = await timed(() => app.app.get(RedisMetrics).sample());
    expect(sampled.ms).toBeLessThan(HEALTH_TIMEOUT_MS + 500);
    expect(sampleValue(await exposition(app.url), 'redis_up')).toBe(0);
    const json = await get(app.url, '/metrics').expect(200);
    expect(json.body.redis).toMatchObject({ up: false, error: expect.any(String) });

    const cluster = await timed(() => get(app.url, '/metrics/cluster'));
    expect(cluster.value.status).toBe(200);
    expect(cluster.ms).toBeLessThan(ANSWER_WITHIN_MS);
  }

  async function expectRedisReportedUp(app: TestApp) {
    await waitFor(async () => (await get(app.url, '/health/redis')).status === 200, 10_000, 100);
    await get(app.url, '/health/ready').expect(200);
    await app.app.get(RedisMetrics).sample();
    expect(sampleValue(await exposition(app.url), 'redis_up')).toBe(1);
  }

  function expectPromptPublishes(traffic: PublishTraffic) {
    expect(traffic.outcomes.length).toBe(traffic.sent);
    for (const o of traffic.outcomes) {
      expect(o).toMatchObject({ status: 202, delivered: CLIENTS });
      expect(o.elapsedMs).toBeLessThan(ANSWER_WITHIN_MS);
    }
  }

  /**
   * Ends a fault case's traffic: every publish answered promptly, every local client got every one in order,
   * and B's client is still connected.
   */
  async function finishTraffic(
    traffic: PublishTraffic,
    onA: Socket[],
    onB: Socket,
    received: Array<{ items: Array<{ data: { seq: number } }> }>,
  ): Promise<void> {
    const sent = await traffic.stop();
    // Count the traffic's own publications: the probes have no seq, and local clients now get a publication
    // through Redis, after its HTTP answer, so the last one may still be on its way.
    await waitFor(
      () => received.every((r) => r.items.filter((u) => u.data.seq !== undefined).length >= sent),
      3000,
    );
    expectPromptPublishes(traffic);
    expectNothingLost(onA, received, sent);
    expect(onB.connected).toBe(true);
  }

  beforeAll(async () => {
    logs.start();
    await redis.start();
    [a, b] = await Promise.all([
      createTestApp(env(redis.url, 'fault-a')),
      createTestApp(env(redis.url, 'fault-b')),
    ]);
    await waitFor(() => a.app.get(RedisService).isReady && b.app.get(RedisService).isReady, 5000);
  }, 30_000);
  afterEach(async () => {
    // Whatever a case did to Redis, it is back: the next case starts from a healthy pair.
    await expectRedisReportedUp(a);
    await expectServerServes(a.url, PUBLISH_TOKEN);
    await expectServerServes(b.url, PUBLISH_TOKEN);
    expect(logs.find('Unhandled rejection')).toEqual([]);
    expect(logs.find('Uncaught exception')).toEqual([]);
    closeAll(sockets);
  }, 20_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis.stop();
    logs.stop();
  });

  it('killed: local clients keep every publish, health/metrics/logs say so, and it all heals on restart', async () => {
    const { onA, onB, received } = await audience('killed');
    await expectCrossInstance(onB, 'killed', 3000);
    const mark = logs.lines.length;
    const publishErrorsBefore =
      sampleValue(await exposition(a.url), 'internal_errors_total', { kind: 'redis_adapter_publish' }) ?? 0;

    const traffic = new PublishTraffic(a.url, PUBLISH_TOKEN, 'killed').start();
    await sleep(300);
    await redis.kill();
    await waitFor(() => !a.app.get(RedisService).isReady, 5000);
    await sleep(1500); // traffic during the outage
    await expectRedisReportedDown(a);
    await expectRedisReportedDown(b);
    const during = await timed(() =>
      request(a.url)
        .post('/events')
        .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
        .send({ event: 'portfolio:update', portfolioId: 'nobody', data: {} }),
    );
    expect(during.value.status).toBe(202);
    expect(during.value.body.degraded).toBe(true);

    await redis.start();
    await expectRedisReportedUp(a);
    await expectRedisReportedUp(b);
    await expectCrossInstance(onB, 'killed', 8000);
    await sleep(200);
    await finishTraffic(traffic, onA, onB, received);
    expect(traffic.outcomes.some((o) => o.degraded)).toBe(true);

    const publishErrors = sampleValue(await exposition(a.url), 'internal_errors_total', {
      kind: 'redis_adapter_publish',
    });
    expect(publishErrors).toBeGreaterThan(publishErrorsBefore);
    const lines = logs.lines.slice(mark);
    const unavailable = lines.filter((l) => l.message === 'Redis unavailable');
    expect(unavailable.length).toBeGreaterThanOrEqual(1);
    for (const l of unavailable) expect(l.level).toBe('warn');
    // Logged once per outage, not once per failed publish.
    expect(
      lines.filter(
        (l) =>
          l.message ===
          'Redis adapter publish failed: cross-instance delivery is degraded until Redis is back',
      ).length,
    ).toBeLessThanOrEqual(2);
    expect(lines.filter((l) => l.message === 'Redis connection restored').length).toBeGreaterThanOrEqual(1);
  }, 45_000);

  it('frozen (SIGSTOP): requests answer within their timeouts, nothing held is lost, and it heals on SIGCONT', async () => {
    const { onA, onB, received } = await audience('frozen');
    await expectCrossInstance(onB, 'frozen', 3000);
    const mark = logs.lines.length;

    const traffic = new PublishTraffic(a.url, PUBLISH_TOKEN, 'frozen').start();
    await sleep(300);
    redis.freeze();
    try {
      await sleep(500);
      await expectRedisReportedDown(a);
      // The adapter notices its publishes time out (command timeout 2 s) and says so once.
      await waitFor(
        () =>
          logs.lines
            .slice(mark)
            .some(
              (l) =>
                l.message ===
                'Redis adapter publish failed: cross-instance delivery is degraded until Redis is back',
            ),
        6000,
        100,
      );
      expect(
        logs.lines
          .slice(mark)
          .find(
            (l) =>
              l.message ===
              'Redis adapter publish failed: cross-instance delivery is degraded until Redis is back',
          ),
      ).toMatchObject({ level: 'error', error: 'Command timed out' });
    } finally {
      redis.thaw();
    }
    await expectRedisReportedUp(a);
    await expectCrossInstance(onB, 'frozen', 10_000);
    await finishTraffic(traffic, onA, onB, received);
  }, 45_000);

  it('restarted under traffic: no client notices, cross-instance delivery resumes', async () => {
    const { onA, onB, received } = await audience('restarted');
    await expectCrossInstance(onB, 'restarted', 3000);
    const traffic = new PublishTraffic(a.url, PUBLISH_TOKEN, 'restarted').start();
    await sleep(300);
    await redis.restart();
    await expectRedisReportedUp(a);
    await expectRedisReportedUp(b);
    await expectCrossInstance(onB, 'restarted', 8000);
    await finishTraffic(traffic, onA, onB, received);
  }, 45_000);
});

describe('Fault: a Redis address that accepts and never answers (e2e)', () => {
  const silent = new SilentTcpServer();
  const logs = new LogCapture();
  let t: TestApp;
  let bootMs = 0;

  beforeAll(async () => {
    logs.start();
    await silent.start();
    const started = Date.now();
    t = await createTestApp(env(`redis://127.0.0.1:${silent.port}`, 'silent'));
    bootMs = Date.now() - started;
  }, 30_000);
  afterAll(async () => {
    const started = Date.now();
    await t?.close();
    // A hung Redis never holds the shutdown.
    expect(Date.now() - started).toBeLessThan(5000);
    await silent.stop();
    // ioredis destroys a half-closed stream after its own 2 s disconnect timeout; let those timers run out.
    await sleep(2100);
    logs.stop();
  });

  it('starts anyway, serves local clients, answers promptly and reports Redis down everywhere', async () => {
    // The adapter waits at most its start-up budget (5 s) for Redis, then listens.
    expect(bootMs).toBeLessThan(10_000);
    expect(
      logs.find(
        'Redis adapter: Redis not reachable at start-up; serving local clients, cross-instance delivery starts when it connects',
      ),
    ).toHaveLength(1);

    const listeners: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const s = await connectClient(t.url, `silent-${i}`, ['p1']);
        listeners.push(s);
        await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toMatchObject({
          ok: true,
        });
      }
      const got = listeners.map((s) => nextEvent(s, 'portfolio:update'));
      const pub = await timed(() =>
        request(t.url)
          .post('/events')
          .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
          .send({ event: 'portfolio:update', portfolioId: 'p1', data: { v: 1 } })
          .timeout(10_000),
      );
      expect(pub.value.status).toBe(202);
      expect(pub.value.body).toMatchObject({ delivered: 3, degraded: true });
      expect(pub.ms).toBeLessThan(ANSWER_WITHIN_MS);
      await Promise.all(got);

      const redisHealth = await timed(() => get(t.url, '/health/redis'));
      expect(redisHealth.value.status).toBe(503);
      expect(redisHealth.ms).toBeLessThan(HEALTH_TIMEOUT_MS + 1000);
      const ready = await timed(() => get(t.url, '/health/ready'));
      expect(ready.value.status).toBe(503);
      expect(ready.ms).toBeLessThan(HEALTH_TIMEOUT_MS + 1000);
      await get(t.url, '/health').expect(200);
      const cluster = await timed(() => get(t.url, '/metrics/cluster'));
      expect(cluster.value.status).toBe(200);
      expect(cluster.ms).toBeLessThan(ANSWER_WITHIN_MS);

      await t.app.get(RedisMetrics).sample();
      expect(sampleValue(await exposition(t.url), 'redis_up')).toBe(0);
      // The ready check times out (command timeout) and the outage is logged, once per client.
      await waitFor(() => logs.find('Redis unavailable').length >= 1, 6000, 100);
      const unavailable = logs.find('Redis unavailable');
      expect(new Set(unavailable.map((l) => l.role)).size).toBe(unavailable.length);
      for (const s of listeners) expect(s.connected).toBe(true);
      await expectServerServes(t.url, PUBLISH_TOKEN);
    } finally {
      closeAll(listeners);
    }
  }, 30_000);
});
