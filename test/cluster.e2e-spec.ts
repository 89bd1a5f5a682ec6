import { Emitter } from '@socket.io/redis-emitter';
import Redis from 'ioredis';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { APP_VERSION } from '../src/common/version';
import { SocketAdapterState } from '../src/realtime/socket-adapter-state';
import { RedisTestServer } from './utils/redis-server';
import { Replica } from './utils/replica';
import {
  accepted,
  closeAll,
  collect,
  connectClient,
  disconnected,
  emitAck,
  nextEvent,
  positioned,
  sleep,
  waitFor,
} from './utils/socket-client';
import { exposition, sampleValue } from './utils/server-checks';
import { createTestApp, TestApp } from './utils/test-app';

const PUBLISH_TOKEN = 'cluster-publish-token-0123456789';
const HEARTBEAT_MS = 300;

describe('Several replicas on one Redis (e2e)', () => {
  const redis = new RedisTestServer();
  let a: TestApp;
  let b: TestApp;
  const sockets: Socket[] = [];
  const client = async (app: TestApp | Replica, userId: string, portfolios?: string[]) => {
    const s = await connectClient(app.url, userId, portfolios);
    sockets.push(s);
    return s;
  };
  const publish = (app: TestApp, body: object) =>
    request(app.url).post('/events').set('Authorization', `Bearer ${PUBLISH_TOKEN}`).send(body);
  const env = (id: string) => ({
    REDIS_URL: redis.url,
    PUBLISH_TOKEN,
    RAILWAY_REPLICA_ID: id,
    CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS),
    WS_TRANSPORTS: 'websocket',
    WS_RATE_LIMIT: '1000',
    WS_RATE_BURST: '1000',
  });
  const clusterIds = async (app: TestApp) =>
    (
      (await request(app.url).get('/metrics/cluster').expect(200)).body.instances as Array<{
        instanceId: string;
      }>
    ).map((i) => i.instanceId);

  beforeAll(async () => {
    await redis.start();
    [a, b] = await Promise.all([createTestApp(env('replica-a')), createTestApp(env('replica-b'))]);
  }, 30_000);
  afterEach(() => closeAll(sockets));
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis.stop();
  });

  it('runs with the Redis adapter', async () => {
    expect(a.app.get(SocketAdapterState).redisEnabled).toBe(true);
    expect(b.app.get(SocketAdapterState).redisEnabled).toBe(true);
    const res = await request(b.url).get('/metrics').expect(200);
    expect(res.body.websocket.redisEnabled).toBe(true);
  });

  it('a POST /events on A reaches the subscribed client on B, and nobody else', async () => {
    const onB = await client(b, 'alice', ['p1']);
    const bystanderB = await client(b, 'bob', ['p1']);
    const bystanderA = await client(a, 'carol', ['p1']);
    await emitAck(onB, 'portfolio:subscribe', { portfolioId: 'p1' });
    const others = [bystanderB, bystanderA].map((s) => collect(s, 'portfolio:update'));
    const got = nextEvent(onB, 'portfolio:update');
    const lagBefore = sampleValue(await exposition(b.url), 'ws_pubsub_lag_seconds_count') ?? 0;
    const res = await publish(a, { event: 'portfolio:update', portfolioId: 'p1', data: { v: 1 } }).expect(
      202,
    );
    expect(res.body).toEqual(accepted('portfolio:update', ['portfolio:p1'], 0));
    expect(await got).toEqual(
      positioned({ portfolioId: 'p1', data: { v: 1 }, timestamp: expect.any(String) }, ['portfolio:p1']),
    );
    // B read it from the channel: its pub/sub lag was recorded once (A's own copy records none).
    expect(sampleValue(await exposition(b.url), 'ws_pubsub_lag_seconds_count')).toBe(lagBefore + 1);

    const mine = nextEvent(onB, 'trade:executed');
    await publish(a, { event: 'trade:executed', userId: 'alice', data: { q: 2 } }).expect(202);
    expect((await mine).data).toEqual({ q: 2 });
    await sleep(200);
    expect(others.map((o) => o.items.length)).toEqual([0, 0]);
  });

  it('500 events in a row from A arrive on B in order', async () => {
    const onB = await client(b, 'dave', ['p7']);
    await emitAck(onB, 'portfolio:subscribe', { portfolioId: 'p7' });
    const got = collect(onB, 'portfolio:update');
    for (let i = 0; i < 500; i++) {
      await publish(a, { event: 'portfolio:update', portfolioId: 'p7', data: { seq: i } }).expect(202);
    }
    await waitFor(() => got.items.length >= 500, 5000);
    expect(got.items.map((u) => u.data.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i));
  }, 30_000);

  it('a process holding only a Redis connection reaches clients on both instances (redis-emitter)', async () => {
    const onA = await client(a, 'erin', ['p3']);
    const onB = await client(b, 'erin', ['p3']);
    const watcherB = await client(b, 'frank', ['p3']);
    await emitAck(watcherB, 'portfolio:subscribe', { portfolioId: 'p3' });
    const redisClient = new Redis(redis.url);
    try {
      const emitter = new Emitter(redisClient);
      const trades = [nextEvent(onA, 'trade:executed'), nextEvent(onB, 'trade:executed')];
      emitter
        .to('user:erin')
        .emit('trade:executed', { userId: 'erin', data: { id: 't1' }, timestamp: new Date().toISOString() });
      for (const t of await Promise.all(trades))
        expect(t).toMatchObject({ userId: 'erin', data: { id: 't1' } });
      const update = nextEvent(watcherB, 'portfolio:update');
      emitter
        .to('portfolio:p3')
        .emit('portfolio:update', { portfolioId: 'p3', data: { v: 3 }, timestamp: new Date().toISOString() });
      expect((await update).data).toEqual({ v: 3 });
    } finally {
      await redisClient.quit();
    }
  });

  it('a service of another SERVICE_NAME on the same Redis stays out of this cluster view', async () => {
    const other = await createTestApp({ ...env('other-service-a'), SERVICE_NAME: 'other-service' });
    try {
      await waitFor(async () => (await clusterIds(other)).length === 1, 3000);
      await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 2));
      expect(await clusterIds(other)).toEqual(['other-service-a']);
      expect(await clusterIds(a)).toEqual(['replica-a', 'replica-b']);
    } finally {
      await other.close();
    }
  });

  describe('with a third replica as a real process', () => {
    let c: Replica | null = null;
    afterEach(async () => {
      await c?.stop();
      c = null;
    });

    it('the cluster view lists every instance; a SIGKILLed one drops out within the TTL', async () => {
      c = await Replica.start(env('replica-c'));
      await client(a, 'gina');
      await client(b, 'gina');
      await client(b, 'hank');
      await client(c, 'ivan');
      await waitFor(async () => (await clusterIds(a)).length === 3, 3000);
      // Each instance counts its own clients live and the others from their last heartbeat, so every
      // view converges within a heartbeat on its own: wait for the one asserted on below as well.
      for (const viewer of [a, b])
        await waitFor(
          async () => (await request(viewer.url).get('/metrics/cluster')).body.totalConnections === 4,
          3000,
        );
      const view = (await request(b.url).get('/metrics/cluster').expect(200)).body;
      expect(view).toEqual({
        instances: expect.any(Array),
        instanceCount: 3,
        totalConnections: 4,
        uniqueUsers: 4,
        timestamp: expect.any(String),
      });
      expect(view.instances.map((i: { instanceId: string }) => i.instanceId)).toEqual([
        'replica-a',
        'replica-b',
        'replica-c',
      ]);
      expect(view.instances[1]).toEqual({
        instanceId: 'replica-b',
        hostname: expect.any(String),
        version: APP_VERSION,
        connections: 2,
        uniqueUsers: 2,
        uptime: expect.any(Number),
        startedAt: expect.any(String),
        at: expect.any(Number),
      });

      c.proc.kill('SIGKILL');
      await c.exited;
      const killedAt = Date.now();
      await waitFor(async () => !(await clusterIds(a)).includes('replica-c'), HEARTBEAT_MS * 3 + 2000);
      expect(Date.now() - killedAt).toBeLessThanOrEqual(HEARTBEAT_MS * 3 + 1000);
      expect(await clusterIds(b)).toEqual(['replica-a', 'replica-b']);
    }, 45_000);

    it('SIGTERM of one replica: its clients get a transport close; the other replicas’ clients stay connected', async () => {
      c = await Replica.start(env('replica-c'));
      const onC = await client(c, 'jill');
      const onA = await client(a, 'jill');
      const onB = await client(b, 'kim');
      const cGone = disconnected(onC);
      c.proc.kill('SIGTERM');
      await expect(cGone).resolves.toBe('transport close');
      await expect(c.exited).resolves.toEqual({ code: 0, signal: null });
      await sleep(300);
      expect(onA.connected).toBe(true);
      expect(onB.connected).toBe(true);
      // The leaving replica left the view at once, without waiting for its heartbeat to expire.
      expect(await clusterIds(a)).toEqual(['replica-a', 'replica-b']);
      const delivered = nextEvent(onB, 'trade:executed');
      await publish(a, { event: 'trade:executed', userId: 'kim', data: {} }).expect(202);
      await delivered;
    }, 45_000);
  });

  it('closing app A closes only A’s clients (transport close), B’s stay connected', async () => {
    const onA = await client(a, 'lou');
    const onB = await client(b, 'max');
    const aGone = disconnected(onA);
    await a.close();
    await expect(aGone).resolves.toBe('transport close');
    await sleep(300);
    expect(onB.connected).toBe(true);
    await expect(emitAck(onB, 'portfolio:unsubscribe', { portfolioId: 'p1' })).resolves.toEqual({
      ok: true,
      portfolioId: 'p1',
    });
  });
});
