import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { RealtimeGateway } from '../src/realtime/realtime.gateway';
import { freePort } from './utils/ports';
import { PublishTraffic } from './utils/publish-traffic';
import { RedisTestServer } from './utils/redis-server';
import { ensureBuilt, ServerProcess } from './utils/server-process';
import { expectServerServes } from './utils/server-checks';
import {
  closeAll,
  collect,
  connectClient,
  connectError,
  emitAck,
  makeToken,
  nextEvent,
  subscribed,
  waitFor,
} from './utils/socket-client';
import { createTestApp, TEST_JWT_SECRET, TestApp } from './utils/test-app';

const PUBLISH_TOKEN = 'fault-process-publish-token-0123456789';

/** What a child server wrote that means it lost control of an error. */
function processErrors(server: ServerProcess): string[] {
  return server.lines
    .filter((l) => l.message === 'Unhandled rejection' || l.message === 'Uncaught exception')
    .map((l) => `${String(l.message)}: ${String(l.error)}`);
}

async function timed<T>(what: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await what();
  return { value, ms: performance.now() - started };
}

/** The built server (dist/main) as a child process: real signal handling, real exit. */
describe('Fault: process-level (e2e, built server)', () => {
  beforeAll(() => ensureBuilt(), 180_000);

  describe('SIGTERM with 50 connected clients', () => {
    const CLIENTS = 50;
    const SHUTDOWN_TIMEOUT_MS = 6000;
    const DRAIN_MS = 2000;
    const sockets: Socket[] = [];
    let server: ServerProcess | null = null;

    afterAll(async () => {
      closeAll(sockets);
      await server?.stop();
    });

    it('finishes in-flight acks, gives every client a transport close, exits 0 in time with its last logs flushed', async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      server = new ServerProcess({
        PORT: String(port),
        HOST: '127.0.0.1',
        NODE_ENV: 'production',
        JWT_SECRET: TEST_JWT_SECRET,
        PUBLISH_TOKEN,
        WS_TRANSPORTS: 'websocket',
        WS_RATE_LIMIT: '1000',
        WS_RATE_BURST: '1000',
        SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        LOG_LEVEL: 'info',
      });
      await server.waitForPort(port);
      for (let i = 0; i < CLIENTS; i++) {
        const s = await connectClient(url, `term-${i}`, ['p1']);
        sockets.push(s);
        await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toMatchObject({
          ok: true,
        });
      }
      const reasons = sockets.map((s) => new Promise<string>((resolve) => s.once('disconnect', resolve)));
      const updates = sockets.map((s) => collect(s, 'portfolio:update'));

      // One ack in flight per client at the moment the signal lands.
      const inFlight = sockets.map((s) => emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' }));
      const signalledAt = Date.now();
      server.proc.kill('SIGTERM');

      // During the drain: the process refuses newcomers and says it is going, but serves who is there.
      await waitFor(
        async () => (await request(url).get('/health/ready').timeout(2000)).status === 503,
        DRAIN_MS / 2,
        50,
      );
      // Liveness stays up: the process is alive and finishing; only readiness sends traffic elsewhere.
      const live = await request(url).get('/health').timeout(2000);
      expect({ status: live.status, draining: live.body.draining }).toEqual({ status: 200, draining: true });
      await expect(connectError(url, makeToken('late-comer'))).resolves.toBe('server_shutting_down');
      const duringDrain = sockets.map((s) => emitAck(s, 'portfolio:unsubscribe', { portfolioId: 'p1' }));
      const [subscribes, unsubscribes] = [await Promise.all(inFlight), await Promise.all(duringDrain)];
      expect(subscribes).toEqual(Array.from({ length: CLIENTS }, () => subscribed('p1')));
      expect(unsubscribes).toEqual(Array.from({ length: CLIENTS }, () => ({ ok: true, portfolioId: 'p1' })));
      expect(Date.now() - signalledAt).toBeLessThan(DRAIN_MS);

      const { code, signal } = await server.exited;
      const elapsed = Date.now() - signalledAt;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
      expect(elapsed).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
      expect(elapsed).toBeGreaterThanOrEqual(DRAIN_MS - 100); // it did drain first
      expect(await Promise.all(reasons)).toEqual(Array.from({ length: CLIENTS }, () => 'transport close'));
      for (const u of updates) expect(u.items).toEqual([]);

      const messages = server.lines.map((l) => l.message);
      expect(messages).toContain('Shutdown started');
      expect(messages[messages.length - 1]).toBe('Shutdown complete');
      expect(server.lines.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
      expect(processErrors(server)).toEqual([]);
    }, 60_000);
  });

  describe('a peer replica dies or hangs during cross-instance work', () => {
    const redis = new RedisTestServer();
    const sockets: Socket[] = [];
    const HEARTBEAT_MS = 300;
    /** The adapter's cross-instance request timeout (REQUESTS_TIMEOUT_MS in redis-io.adapter.ts) plus slack. */
    const CROSS_INSTANCE_WITHIN_MS = 2000 + 1500;
    let a: TestApp;
    let b: ServerProcess;
    let bUrl: string;

    const clusterIds = async () => {
      const res = await request(a.url).get('/metrics/cluster').timeout(10_000);
      expect(res.status).toBe(200);
      return (res.body.instances as Array<{ instanceId: string }>).map((i) => i.instanceId);
    };
    const fetchSockets = () =>
      timed(() =>
        a.app
          .get(RealtimeGateway)
          .server.fetchSockets()
          .then(
            (s) => s.length,
            (e: Error) => e,
          ),
      );

    beforeAll(async () => {
      await redis.start();
      const common = {
        REDIS_URL: redis.url,
        PUBLISH_TOKEN,
        CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS),
        WS_TRANSPORTS: 'websocket',
        WS_RATE_LIMIT: '1000',
        WS_RATE_BURST: '1000',
      };
      a = await createTestApp({ ...common, RAILWAY_REPLICA_ID: 'peer-a' });
      const port = await freePort();
      bUrl = `http://127.0.0.1:${port}`;
      b = new ServerProcess({
        ...common,
        PORT: String(port),
        HOST: '127.0.0.1',
        NODE_ENV: 'test',
        JWT_SECRET: TEST_JWT_SECRET,
        RAILWAY_REPLICA_ID: 'peer-b',
        LOG_LEVEL: 'info',
      });
      await b.waitForPort(port);
      await waitFor(async () => (await clusterIds()).length === 2, 5000, 100);
    }, 60_000);
    afterAll(async () => {
      closeAll(sockets);
      await b?.stop();
      await a?.close();
      await redis.stop();
    });

    it('A answers within its timeouts while B is frozen, and again once B is killed; A’s clients lose nothing', async () => {
      const onA = await connectClient(a.url, 'peer-alice', ['p1']);
      const onB = await connectClient(bUrl, 'peer-bob', ['p1']);
      sockets.push(onA, onB);
      for (const s of [onA, onB]) await emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' });
      const both = await fetchSockets();
      expect(both.value).toBe(2);
      const crossInstance = nextEvent(onB, 'portfolio:update');
      await request(a.url)
        .post('/events')
        .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
        .send({ event: 'portfolio:update', portfolioId: 'p1', data: { seq: -1 } })
        .expect(202);
      await crossInstance;
      const onAUpdates = collect<{ data: { seq: number } }>(onA, 'portfolio:update');

      // Frozen: B's Redis connections stay open and it never answers.
      const traffic = new PublishTraffic(a.url, PUBLISH_TOKEN, 'p1', 25, 1000).start();
      b.proc.kill('SIGSTOP');
      try {
        const frozen = await fetchSockets();
        expect(frozen.value).toBeInstanceOf(Error);
        expect(frozen.ms).toBeLessThan(CROSS_INSTANCE_WITHIN_MS);
        const cluster = await timed(() => clusterIds());
        expect(cluster.ms).toBeLessThan(CROSS_INSTANCE_WITHIN_MS);
        await expectServerServes(a.url, PUBLISH_TOKEN);
      } finally {
        b.proc.kill('SIGCONT');
      }
      await waitFor(async () => (await fetchSockets()).value === 2, 5000, 100);

      // Killed in the middle of a cross-instance request.
      const pending = fetchSockets();
      b.proc.kill('SIGKILL');
      const killed = await pending;
      expect(killed.ms).toBeLessThan(CROSS_INSTANCE_WITHIN_MS);
      await b.exited;
      const after = await fetchSockets();
      expect(after.ms).toBeLessThan(CROSS_INSTANCE_WITHIN_MS);
      await waitFor(async () => (await clusterIds()).join() === 'peer-a', HEARTBEAT_MS * 3 + 2000, 100);
      await expectServerServes(a.url, PUBLISH_TOKEN);

      const sent = await traffic.stop();
      await waitFor(() => onAUpdates.items.filter((u) => u.data.seq >= 0).length >= sent, 3000);
      expect(onA.connected).toBe(true);
      expect(onAUpdates.items.map((u) => u.data.seq).filter((s) => s >= 0)).toEqual(
        Array.from({ length: sent }, (_, i) => i),
      );
      for (const o of traffic.outcomes) {
        expect(o.status).toBe(202);
        expect(o.elapsedMs).toBeLessThan(2000);
      }
      expect(processErrors(b)).toEqual([]);
    }, 60_000);
  });
});
