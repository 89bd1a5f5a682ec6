import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { MetricsService } from '../src/metrics/metrics.service';
import { LogCapture } from './utils/log-capture';
import { RedisTestServer } from './utils/redis-server';
import {
  closeAll,
  collect,
  connectClient,
  emitAck,
  nextEvent,
  sleep,
  waitFor,
  subscribed,
} from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

const PUBLISH_TOKEN = 'outage-publish-token-0123456789';
const PUBLISH_FAILED =
  'Could not record a publication in Redis: delivering on this instance only, without positions, until Redis is back';

/** Two replicas on one real redis-server that is killed, restarted, frozen and thawed under traffic. */
describe('Redis outages with two replicas (e2e)', () => {
  const redis = new RedisTestServer();
  const logs = new LogCapture();
  let a: TestApp;
  let b: TestApp;
  const sockets: Socket[] = [];
  let onA: Socket;
  let onB: Socket;

  const publish = (app: TestApp, data: object = {}) =>
    request(app.url)
      .post('/events')
      .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
      .send({ event: 'portfolio:update', portfolioId: 'p1', data })
      .timeout(3000);
  const env = (id: string) => ({
    REDIS_URL: redis.url,
    PUBLISH_TOKEN,
    RAILWAY_REPLICA_ID: id,
    CLUSTER_HEARTBEAT_MS: '300',
    HEALTH_CHECK_TIMEOUT_MS: '500',
    WS_TRANSPORTS: 'websocket',
    WS_RATE_LIMIT: '1000',
    WS_RATE_BURST: '1000',
  });

  /** Publishes on A and on B every 20 ms (and subscribes over the sockets) until stopped. */
  function traffic(): () => Promise<void> {
    const pending: Array<Promise<unknown>> = [];
    let n = 0;
    const timer = setInterval(() => {
      n++;
      for (const app of [a, b])
        pending.push(
          publish(app, { n }).then(
            () => undefined,
            () => undefined,
          ),
        );
      pending.push(
        emitAck(n % 2 ? onA : onB, 'portfolio:subscribe', { portfolioId: 'p1' }).catch(() => undefined),
      );
    }, 20);
    return async () => {
      clearInterval(timer);
      await Promise.all(pending);
    };
  }

  /** True when an event published on A reaches B's client (and one from B reaches A's). */
  async function crossInstanceWorks(): Promise<boolean> {
    const tag = Math.random().toString(36).slice(2);
    const gotB = collect(onB, 'portfolio:update');
    const gotA = collect(onA, 'portfolio:update');
    try {
      await publish(a, { tag, from: 'a' });
      await publish(b, { tag, from: 'b' });
      await sleep(150);
      return (
        gotB.items.some((u) => u.data.tag === tag && u.data.from === 'a') &&
        gotA.items.some((u) => u.data.tag === tag && u.data.from === 'b')
      );
    } finally {
      gotA.stop();
      gotB.stop();
    }
  }

  beforeAll(async () => {
    logs.start();
    await redis.start();
    [a, b] = await Promise.all([createTestApp(env('outage-a')), createTestApp(env('outage-b'))]);
    onA = await connectClient(a.url, 'ann', ['p1']);
    onB = await connectClient(b.url, 'ben', ['p1']);
    sockets.push(onA, onB);
    await emitAck(onA, 'portfolio:subscribe', { portfolioId: 'p1' });
    await emitAck(onB, 'portfolio:subscribe', { portfolioId: 'p1' });
    expect(await crossInstanceWorks()).toBe(true);
  }, 30_000);
  afterAll(async () => {
    closeAll(sockets);
    await a?.close();
    await b?.close();
    await redis.stop();
    logs.stop();
  });

  it('SIGKILL: both keep serving local clients, 202 degraded, health 503, one error per outage; Redis back: delivery resumes within 5 s', async () => {
    const internalErrors = jest.spyOn(a.app.get(MetricsService), 'recordInternalError');
    const before = logs.find(PUBLISH_FAILED).length;
    const stop = traffic();
    await sleep(200);
    await redis.kill();
    await sleep(1500);

    for (const [app, local] of [
      [a, onA],
      [b, onB],
    ] as const) {
      const got = nextEvent(local, 'portfolio:update');
      const started = Date.now();
      const res = await publish(app, { during: 'outage' }).expect(202);
      expect(Date.now() - started).toBeLessThan(1000);
      // Not recorded (no position), delivered here only, and said so.
      expect(res.body).toEqual({
        event: 'portfolio:update',
        rooms: ['portfolio:p1'],
        delivered: 1,
        id: expect.any(String),
        positions: {},
        degraded: true,
      });
      await got;
      await expect(emitAck(local, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(
        subscribed('p1', null),
      );
      const health = await request(app.url).get('/health/redis').expect(503);
      expect(health.body.status).toBe('unhealthy');
    }
    expect(await crossInstanceWorks()).toBe(false);
    await sleep(1500);
    await stop();

    expect(internalErrors).toHaveBeenCalledWith('stream_publish');
    expect(internalErrors.mock.calls.filter((c) => c[0] === 'stream_publish').length).toBeGreaterThan(10);
    // One error per instance for the whole outage, not one per failed publish.
    expect(logs.find(PUBLISH_FAILED).length - before).toBe(2);

    await redis.start(redis.port);
    const restarted = Date.now();
    await waitFor(crossInstanceWorks, 5000, 0);
    expect(Date.now() - restarted).toBeLessThan(5000);
    const res = await publish(a).expect(202);
    expect(res.body.degraded).toBeUndefined();
    await request(a.url).get('/health/redis').expect(200);
    expect(onA.connected && onB.connected).toBe(true);
  }, 40_000);

  it('SIGSTOP: requests answer within their timeouts, local delivery goes on; SIGCONT recovers', async () => {
    const before = logs.find(PUBLISH_FAILED).length;
    const stop = traffic();
    redis.freeze();
    try {
      await sleep(300);
      let started = Date.now();
      const got = nextEvent(onA, 'portfolio:update');
      const res = await publish(a, { during: 'freeze' }).expect(202);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(res.body.delivered).toBe(1);
      await got;

      started = Date.now();
      await request(a.url).get('/health/redis').expect(503);
      expect(Date.now() - started).toBeLessThan(2000);

      started = Date.now();
      const view = await request(b.url).get('/metrics/cluster').expect(200);
      expect(Date.now() - started).toBeLessThan(3500);
      expect(view.body).toMatchObject({
        instanceCount: 1,
        degraded: true,
        instances: [{ instanceId: 'outage-b' }],
      });

      // A publish that timed out is degraded (delivered here only); a subscribe answers without a position.
      await waitFor(async () => (await publish(a)).body.degraded === true, 5000, 100);
      await expect(emitAck(onB, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(
        subscribed('p1', null),
      );
    } finally {
      await stop();
      redis.thaw();
    }
    expect(logs.find(PUBLISH_FAILED).length - before).toBeLessThanOrEqual(2);
    const thawed = Date.now();
    await waitFor(crossInstanceWorks, 5000, 0);
    expect(Date.now() - thawed).toBeLessThan(5000);
    await waitFor(async () => (await publish(a)).body.degraded === undefined, 3000, 100);
    const view = await request(a.url).get('/metrics/cluster').expect(200);
    expect(view.body.instances.map((i: { instanceId: string }) => i.instanceId)).toEqual([
      'outage-a',
      'outage-b',
    ]);
  }, 40_000);
});

describe('Redis unreachable at start-up (e2e)', () => {
  const redis = new RedisTestServer();
  let a: TestApp;
  let b: TestApp;
  const sockets: Socket[] = [];
  afterAll(async () => {
    closeAll(sockets);
    await a?.close();
    await b?.close();
    await redis.stop();
  });

  it('starts serving local clients, and delivers across instances once Redis appears', async () => {
    await redis.start();
    const port = redis.port;
    await redis.kill();
    const env = (id: string) => ({
      REDIS_URL: `redis://127.0.0.1:${port}`,
      PUBLISH_TOKEN,
      RAILWAY_REPLICA_ID: id,
      WS_TRANSPORTS: 'websocket',
    });
    [a, b] = await Promise.all([createTestApp(env('late-a')), createTestApp(env('late-b'))]);
    const onA = await connectClient(a.url, 'zoe', ['p1']);
    const onB = await connectClient(b.url, 'zed', ['p1']);
    sockets.push(onA, onB);
    await emitAck(onB, 'portfolio:subscribe', { portfolioId: 'p1' });
    await emitAck(onA, 'portfolio:subscribe', { portfolioId: 'p1' });
    const post = (data: object) =>
      request(a.url)
        .post('/events')
        .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
        .send({ event: 'portfolio:update', portfolioId: 'p1', data });
    const local = await post({ n: 0 }).expect(202);
    expect(local.body).toMatchObject({ delivered: 1, degraded: true });

    await redis.start(port);
    await waitFor(
      async () => {
        const tag = Math.random();
        const got = collect(onB, 'portfolio:update');
        await post({ tag });
        await sleep(150);
        got.stop();
        return got.items.some((u) => u.data.tag === tag);
      },
      6000,
      0,
    );
  }, 30_000);
});
