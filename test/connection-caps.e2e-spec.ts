import Redis from 'ioredis';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { LogCapture } from './utils/log-capture';
import { scrape, seriesValue } from './utils/metrics-helpers';
import { RawEngineClient } from './utils/raw-engine-client';
import { rawHttp } from './utils/raw-http';
import { RedisTestServer } from './utils/redis-server';
import { Replica } from './utils/replica';
import { closeAll, connect, connectError, createClient, makeToken, waitFor } from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

const REFUSED = 'ws_connections_refused_total';
/**
 * Info lines are asserted on. Nest's Logger is process-wide, so every app of this file logs at the same level
 * (the first app's level would otherwise filter the later apps' lines).
 */
const LOGS = { LOG_LEVEL: 'info' };
const portOf = (t: TestApp) => Number(new URL(t.url).port);

/** A WebSocket upgrade for a new engine.io session, sent byte for byte so the refusal's body can be read. */
function upgrade(t: TestApp, headers: Record<string, string> = {}) {
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return rawHttp(
    portOf(t),
    'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n' +
      'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
      `${extra}\r\n`,
  );
}

/** The connect_error a socket.io-client gets, whole (the message alone hides transport refusals' details). */
function refusal(url: string, userId: string, options: Parameters<typeof createClient>[2] = {}) {
  const s = createClient(url, makeToken(userId), options);
  return new Promise<Error & { description?: unknown; context?: { responseText?: string } }>(
    (resolve, reject) => {
      s.once('connect', () => {
        s.disconnect();
        reject(new Error('connected'));
      });
      s.once('connect_error', (err) => {
        s.disconnect();
        resolve(err);
      });
      s.connect();
    },
  );
}

describe('Connection caps (e2e)', () => {
  const logs = new LogCapture();
  const sockets: Socket[] = [];
  const raws: RawEngineClient[] = [];
  const client = async (url: string, userId: string) => {
    const s = await connect(createClient(url, makeToken(userId)));
    sockets.push(s);
    return s;
  };
  const raw = async (t: TestApp, headers?: Record<string, string>) => {
    const c = await RawEngineClient.open(t.url, { headers });
    raws.push(c);
    return c;
  };
  /** Retries a connection until it is accepted: the condition waited on when a slot is being freed elsewhere. */
  const eventuallyConnects = async (url: string, userId: string, timeoutMs: number) => {
    await waitFor(async () => {
      try {
        await client(url, userId);
        return true;
      } catch {
        return false;
      }
    }, timeoutMs);
  };

  beforeAll(() => logs.start());
  afterEach(() => {
    closeAll(sockets);
    for (const c of raws.splice(0)) c.terminate();
  });
  afterAll(() => logs.stop());

  describe('WS_MAX_CONNECTIONS', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp({ ...LOGS, WS_MAX_CONNECTIONS: '3', WS_TRANSPORTS: 'websocket,polling' });
    });
    afterAll(() => t.close());

    it('counts sessions that never authenticate, and refuses one more before the handshake on every transport, with the reason, counted', async () => {
      const before = await scrape(t.url);
      const warnedBefore = logs.find('WebSocket connections refused: instance at WS_MAX_CONNECTIONS').length;
      // Three engine.io sessions that never send a Socket.IO CONNECT: what a handshake flood holds open.
      for (let i = 0; i < 3; i++) await (await raw(t)).handshake();

      const rawRefused = await raw(t);
      expect(rawRefused.refusedWith).toBe(400);
      const ws = await upgrade(t);
      expect(ws.status).toBe(400);
      expect(ws.body).toBe('server_at_capacity');
      const polling = await request(t.url).get('/socket.io/?EIO=4&transport=polling').timeout(5000);
      expect(polling.status).toBe(403);
      expect(polling.body).toEqual({ code: 4, message: 'server_at_capacity' });

      // What an application sees through socket.io-client: a transport error, the reason in the polling body.
      const viaWs = await refusal(t.url, 'cap-ws');
      expect(viaWs.message).toBe('websocket error');
      const viaPolling = await refusal(t.url, 'cap-polling', { transports: ['polling'] });
      expect(viaPolling.message).toBe('xhr poll error');
      expect(viaPolling.description).toBe(403);

      const after = await scrape(t.url);
      expect(
        seriesValue(after, REFUSED, { reason: 'capacity' }) -
          seriesValue(before, REFUSED, { reason: 'capacity' }),
      ).toBe(5);
      expect(seriesValue(after, REFUSED, { reason: 'unauthorized' })).toBe(
        seriesValue(before, REFUSED, { reason: 'unauthorized' }),
      );
      // One warning for the burst, not one per refusal.
      expect(
        logs.find('WebSocket connections refused: instance at WS_MAX_CONNECTIONS').length - warnedBefore,
      ).toBe(1);

      // A session that goes away frees its slot.
      raws[0].terminate();
      await eventuallyConnects(t.url, 'cap-after', 5000);
    });
  });

  describe('WS_MAX_CONNECTIONS_PER_ADDRESS', () => {
    it('with TRUST_PROXY off, a client’s own X-Forwarded-For is ignored: every spoofed address counts as the peer', async () => {
      const t = await createTestApp({ ...LOGS, WS_MAX_CONNECTIONS_PER_ADDRESS: '2' });
      try {
        await (await raw(t, { 'X-Forwarded-For': '198.51.100.1' })).handshake();
        await (await raw(t, { 'X-Forwarded-For': '198.51.100.2' })).handshake();
        const third = await upgrade(t, { 'X-Forwarded-For': '198.51.100.3' });
        expect(third.status).toBe(400);
        expect(third.body).toBe('too_many_connections_from_address');
        expect(seriesValue(await scrape(t.url), REFUSED, { reason: 'address_limit' })).toBe(1);
        expect(
          logs.find('WebSocket connections refused: an address is at WS_MAX_CONNECTIONS_PER_ADDRESS').pop(),
        ).toMatchObject({
          level: 'warn',
          address: '127.0.0.1',
          limit: 2,
        });
      } finally {
        await t.close();
      }
    });

    it('with TRUST_PROXY=1, counts the address the proxy appended, per address; request logs name the same client', async () => {
      const t = await createTestApp({ ...LOGS, WS_MAX_CONNECTIONS_PER_ADDRESS: '2', TRUST_PROXY: '1' });
      try {
        // The left entry is what a client claimed; the proxy appended the right one.
        const via = (client: string) => ({ 'X-Forwarded-For': `10.9.9.9, ${client}` });
        await (await raw(t, via('203.0.113.7'))).handshake();
        await (await raw(t, via('203.0.113.7'))).handshake();
        expect((await upgrade(t, via('203.0.113.7'))).body).toBe('too_many_connections_from_address');
        await (await raw(t, via('203.0.113.8'))).handshake();

        // The slot comes back when a session closes.
        raws[0].terminate();
        await waitFor(async () => (await raw(t, via('203.0.113.7'))).refusedWith === null, 5000);

        const res = await request(t.url).get('/health').set('X-Forwarded-For', '10.9.9.9, 203.0.113.7');
        await request(t.url).get('/no-such-page').set('X-Forwarded-For', '10.9.9.9, 203.0.113.7');
        expect(res.status).toBe(200);
        await waitFor(() => logs.lines.some((l) => String(l.message).startsWith('GET /no-such-page')), 2000);
        const line = logs.lines.find((l) => String(l.message).startsWith('GET /no-such-page'));
        expect((line as { req?: { remoteAddress?: string } }).req?.remoteAddress).toBe('203.0.113.7');
      } finally {
        await t.close();
      }
    });

    it('is off by default (0): many sessions from one address are accepted; refusals in the handshake are counted too', async () => {
      const t = await createTestApp(LOGS);
      try {
        for (let i = 0; i < 5; i++) await (await raw(t)).handshake();
        await expect(connectError(t.url, 'not-a-jwt')).resolves.toBe('unauthorized');
        const m = await scrape(t.url);
        expect(seriesValue(m, REFUSED, { reason: 'unauthorized' })).toBe(1);
        expect(seriesValue(m, REFUSED, { reason: 'address_limit' })).toBe(0);
        expect(m.has(`${REFUSED}{reason="shutting_down"}`)).toBe(true);
      } finally {
        await t.close();
      }
    });
  });

  describe('WS_MAX_CONNECTIONS_PER_USER across replicas on one Redis', () => {
    const HEARTBEAT_MS = 300;
    const redis = new RedisTestServer();
    let a: TestApp;
    let b: TestApp;
    let probe: Redis;
    const env = (id: string) => ({
      REDIS_URL: redis.url,
      RAILWAY_REPLICA_ID: id,
      CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS),
      WS_TRANSPORTS: 'websocket',
      WS_MAX_CONNECTIONS_PER_USER: '2',
      ...LOGS,
    });
    /** The documented key (`<SERVICE_NAME>:ws:user-sockets:<userId>`), read straight from Redis. */
    const held = (userId: string) => probe.zcard(`websocket-server:ws:user-sockets:${userId}`);

    beforeAll(async () => {
      await redis.start();
      [a, b] = await Promise.all([createTestApp(env('cap-a')), createTestApp(env('cap-b'))]);
      probe = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
      probe.on('error', () => undefined);
      await probe.connect();
    }, 30_000);
    afterAll(async () => {
      probe?.disconnect();
      await a?.close();
      await b?.close();
      await redis.stop();
    });

    it('one user holds at most the limit on both replicas together; a disconnect frees the slot for the other replica', async () => {
      const onA = await client(a.url, 'ursula');
      await client(b.url, 'ursula');
      await expect(connectError(a.url, makeToken('ursula'))).resolves.toBe('too_many_connections');
      await expect(connectError(b.url, makeToken('ursula'))).resolves.toBe('too_many_connections');
      expect(
        seriesValue(await scrape(b.url), REFUSED, { reason: 'too_many_connections' }),
      ).toBeGreaterThanOrEqual(1);
      expect(await held('ursula')).toBe(2);

      onA.disconnect();
      await waitFor(async () => (await held('ursula')) === 1, 3000);
      await client(b.url, 'ursula');
      await expect(connectError(a.url, makeToken('ursula'))).resolves.toBe('too_many_connections');
    });

    it('a replica that dies stops counting within three heartbeats: the user is not locked out', async () => {
      const c = await Replica.start(env('cap-c'));
      try {
        await client(c.url, 'vera');
        await client(c.url, 'vera');
        await expect(connectError(a.url, makeToken('vera'))).resolves.toBe('too_many_connections');
        c.proc.kill('SIGKILL');
        await c.exited;
        // Nothing removed C's members: they stop counting once stale (3 × CLUSTER_HEARTBEAT_MS).
        expect(await held('vera')).toBe(2);
        await eventuallyConnects(a.url, 'vera', HEARTBEAT_MS * 3 + 5000);
      } finally {
        await c.stop();
      }
    }, 45_000);

    it('Redis killed: admissions go ahead on the per-instance cap alone, said once; Redis back: cluster-wide again', async () => {
      const failOpen =
        'WS_MAX_CONNECTIONS_PER_USER is enforced per instance only: Redis unavailable for the cluster-wide count';
      const backMessage = 'WS_MAX_CONNECTIONS_PER_USER is enforced cluster-wide again';
      const warnedBefore = logs.find(failOpen).length;
      const onB = [await client(b.url, 'walt'), await client(b.url, 'walt')];

      await redis.kill();
      await client(a.url, 'walt');
      await client(a.url, 'walt');
      await expect(connectError(a.url, makeToken('walt'))).resolves.toBe('too_many_connections');
      expect(logs.find(failOpen).slice(warnedBefore)).toEqual([
        expect.objectContaining({ level: 'warn', reason: expect.stringContaining('Redis not connected') }),
      ]);

      // Redis comes back empty; the replicas' refreshes register the sockets they hold again.
      for (const s of onB) s.disconnect();
      await redis.restart();
      await waitFor(async () => (await held('walt').catch(() => -1)) === 2, 10_000);
      await expect(connectError(b.url, makeToken('walt'))).resolves.toBe('too_many_connections');
      await waitFor(() => logs.find(backMessage).length > 0, 5000);
    }, 45_000);

    it('Redis frozen: a handshake does not wait on it, and goes ahead', async () => {
      const failOpen =
        'WS_MAX_CONNECTIONS_PER_USER is enforced per instance only: Redis unavailable for the cluster-wide count';
      await client(b.url, 'xena');
      await client(b.url, 'xena');
      const warnedBefore = logs.find(failOpen).length;
      redis.freeze();
      try {
        await client(a.url, 'xena');
        expect(logs.find(failOpen).slice(warnedBefore)).toEqual([
          expect.objectContaining({ reason: 'Redis did not answer within 500ms' }),
        ]);
      } finally {
        redis.thaw();
      }
    }, 30_000);
  });
});
