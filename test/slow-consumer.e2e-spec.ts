import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { NonReadingClient, processRssBytes, tcpBufferMaxBytes } from './utils/non-reading-client';
import { freePort } from './utils/ports';
import { ensureBuilt, ServerProcess } from './utils/server-process';
import { exposition, sampleValue } from './utils/server-checks';
import { closeAll, collect, connectClient, emitAck, waitFor, subscribed } from './utils/socket-client';
import { createTestApp, TEST_JWT_SECRET, TestApp } from './utils/test-app';
import { LogCapture } from './utils/log-capture';

const PUBLISH_TOKEN = 'slow-consumer-publish-token-0123456789';
const MB = 1024 * 1024;
/** The default of WS_MAX_PENDING_BYTES, set explicitly so the bounds below follow from it. */
const MAX_PENDING = 1 * MB;
/** Close to the 64 KB publish limit, as in the reported attack. */
const BLOB = 'x'.repeat(60_000);
const WARM_UP_EVENTS = 20;
/** Events published in all, whatever happens: 72 MB, about what the reported attack sent in 90 s. */
const TOTAL_EVENTS = 1200;
/**
 * How much more the server's RSS may grow with the non-readers subscribed than in the same run without them.
 * Publishing 72 MB of 60 KB events moves RSS by itself, by an amount that depends on the Node major and its GC
 * (measured here: +35 to +45 MB on Node 20, +155 to +175 MB on Node 24), so the bound is on the difference. Measured
 * on Node 24: -12 to +7 MB with the limit; +92 MB with the limit lifted to 1 GiB (the queued broadcasts, shared by
 * every non-reader in the room, held until they close).
 */
const MAX_EXTRA_RSS_GROWTH = 48 * MB;
/** Non-reading users in the attack (each under the per-user cap). */
const NON_READERS = 3;

const SLOW_CONSUMER_LOG = 'WebSocket client disconnected: it does not read what it is sent (slow consumer)';
const BLIND_PONG_LOG =
  'WebSocket client disconnected: its pongs answer no ping it has been sent (blind pong)';

function startServer(port: number): ServerProcess {
  return new ServerProcess({
    PORT: String(port),
    HOST: '127.0.0.1',
    NODE_ENV: 'production',
    JWT_SECRET: TEST_JWT_SECRET,
    PUBLISH_TOKEN,
    WS_TRANSPORTS: 'websocket',
    WS_MAX_PENDING_BYTES: String(MAX_PENDING),
    LOG_LEVEL: 'warn',
  });
}

/** A healthy reader subscribed to `pf` on the server at `url`, with what it received. */
async function healthyReader(url: string, sockets: Socket[]) {
  const healthy = await connectClient(url, 'healthy', ['pf']);
  sockets.push(healthy);
  await expect(emitAck(healthy, 'portfolio:subscribe', { portfolioId: 'pf' })).resolves.toEqual(
    subscribed('pf'),
  );
  return { healthy, received: collect<{ data: { seq: number } }>(healthy, 'portfolio:update') };
}

/** Warms up the publish path (JIT, body parser, socket buffers) so that an RSS baseline is the steady state. */
async function warmUp(url: string, received: { items: unknown[] }): Promise<void> {
  for (let seq = 0; seq < WARM_UP_EVENTS; seq++) await publish(url, 'pf', seq);
  await waitFor(() => received.items.length === WARM_UP_EVENTS, 10_000);
}

/** The same publishing with only the healthy reader: what RSS does without a non-reader, on this Node. */
async function rssGrowthWithoutNonReader(): Promise<number> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = startServer(port);
  const sockets: Socket[] = [];
  try {
    await server.waitForPort(port);
    const { received } = await healthyReader(url, sockets);
    await warmUp(url, received);
    const before = processRssBytes(server.proc.pid as number);
    for (let n = 0; n < TOTAL_EVENTS; n++) await publish(url, 'pf', WARM_UP_EVENTS + n);
    await waitFor(() => received.items.length >= WARM_UP_EVENTS + TOTAL_EVENTS, 20_000);
    return processRssBytes(server.proc.pid as number) - before;
  } finally {
    closeAll(sockets);
    await server.stop();
  }
}

async function publish(url: string, portfolioId: string, seq: number): Promise<void> {
  const res = await request(url)
    .post('/events')
    .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
    .send({ event: 'portfolio:update', portfolioId, data: { seq, blob: BLOB } })
    .timeout(10_000);
  expect(res.status).toBe(202);
}

/**
 * A client that subscribes, stops reading and answers the heartbeat with blind pongs must not make the server
 * hold everything published to it. Runs the built server as its own process, so its RSS is the server's alone.
 */
describe('Slow consumers (e2e, built server)', () => {
  beforeAll(() => ensureBuilt(), 180_000);

  describe('a non-reading client sent 60 KB events', () => {
    const sockets: Socket[] = [];
    let server: ServerProcess | null = null;
    const slows: NonReadingClient[] = [];

    afterAll(async () => {
      for (const slow of slows) slow.terminate();
      closeAll(sockets);
      await server?.stop();
    });

    it('is disconnected once its unsent output passes WS_MAX_PENDING_BYTES; RSS stays bounded; a healthy reader gets every event', async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const withoutNonReader = await rssGrowthWithoutNonReader();
      server = startServer(port);
      await server.waitForPort(port);
      const pid = server.proc.pid as number;
      const { healthy, received } = await healthyReader(url, sockets);
      await warmUp(url, received);

      // The reported attack, by several users at once: a blind pong every 10 s (a live client could never have
      // seen a ping). Each must be cut off on its own; what they would hold is mostly the broadcasts' shared
      // frames, so the RSS bound below does not grow with their number.
      for (let i = 0; i < NON_READERS; i++) {
        const slow = await NonReadingClient.subscribe(url, `slow${i}`, 'pf', {
          pongEveryMs: 10_000,
          maxPongs: 30,
        });
        slow.raw.send('3');
        slows.push(slow);
      }
      const rssBefore = processRssBytes(pid);
      const dropped = () => server?.lines.filter((l) => l.message === SLOW_CONSUMER_LOG).length ?? 0;
      let disconnectedAfter: number | null = null;
      for (let n = 1; n <= TOTAL_EVENTS; n++) {
        await publish(url, 'pf', WARM_UP_EVENTS + n - 1);
        if (disconnectedAfter === null && dropped() >= NON_READERS) disconnectedAfter = n;
      }
      const total = WARM_UP_EVENTS + TOTAL_EVENTS;
      await waitFor(() => received.items.length >= total, 20_000);
      const rssGrowth = processRssBytes(pid) - rssBefore;
      process.stdout.write(
        `slow consumer: disconnected after ${disconnectedAfter} events of ${BLOB.length} B; ` +
          `server RSS ${(rssBefore / MB).toFixed(1)} MB before, +${(rssGrowth / MB).toFixed(1)} MB after ` +
          `(+${(withoutNonReader / MB).toFixed(1)} MB for the same publishing without non-readers)\n`,
      );

      // Disconnected: before the kernel buffers (send side plus the client's receive side) and the server's
      // WS_MAX_PENDING_BYTES could all have filled, so within a bound of events fixed by this machine's limits.
      const eventBytes = BLOB.length + 100;
      const kernel = tcpBufferMaxBytes('wmem') + tcpBufferMaxBytes('rmem');
      const bound = Math.min(TOTAL_EVENTS, Math.ceil((kernel + MAX_PENDING) / eventBytes) + 1);
      expect(disconnectedAfter).not.toBeNull();
      expect(disconnectedAfter).toBeLessThanOrEqual(bound);

      // Logged once each, at warn, with who and how much; counted by reason.
      const lines = server.lines.filter((l) => l.message === SLOW_CONSUMER_LOG);
      expect(lines).toHaveLength(NON_READERS);
      expect(lines.map((l) => l.userId).sort()).toEqual(slows.map((_, i) => `slow${i}`));
      for (const line of lines) {
        expect(line).toMatchObject({ level: 'warn', reason: 'slow_consumer' });
        expect(typeof line.socketId).toBe('string');
        expect(line.pendingBytes).toBeGreaterThan(MAX_PENDING);
        expect(line.pendingBytes).toBeLessThanOrEqual(MAX_PENDING + 2 * eventBytes);
      }
      const text = await exposition(url);
      expect(sampleValue(text, 'ws_disconnects_total', { reason: 'slow_consumer' })).toBe(NON_READERS);
      expect(sampleValue(text, 'ws_connections')).toBe(1);

      // What the server held for them stayed bounded, though they kept being published to.
      expect(rssGrowth - withoutNonReader).toBeLessThan(MAX_EXTRA_RSS_GROWTH);

      // The healthy reader on the same portfolio got every event, in order.
      expect(received.items.map((e) => e.data.seq)).toEqual([...Array(total).keys()]);
      expect(healthy.connected).toBe(true);

      // Once it reads again, a non-reader finds its connection closed without a close frame (1006).
      for (const slow of slows)
        await expect(slow.resumeAndWaitClosed(30_000)).resolves.toMatchObject({ code: 1006 });
    }, 180_000);
  });

  describe('a non-reading client sent nothing but pings', () => {
    const PING_INTERVAL_MS = 1000;
    const PING_TIMEOUT_MS = 1000;
    let t: TestApp;
    let slow: NonReadingClient | null = null;
    const logs = new LogCapture();

    beforeAll(async () => {
      logs.start();
      t = await createTestApp({
        PUBLISH_TOKEN,
        WS_TRANSPORTS: 'websocket',
        WS_PING_INTERVAL_MS: String(PING_INTERVAL_MS),
        WS_PING_TIMEOUT_MS: String(PING_TIMEOUT_MS),
      });
    });
    afterAll(async () => {
      slow?.terminate();
      await t.close();
      logs.stop();
    });

    it('is not kept alive by blind pongs: disconnected while it still sends them', async () => {
      // Pongs 5× as often as pings are due: engine.io alone restarts its ping timer at each and never pings.
      slow = await NonReadingClient.subscribe(t.url, 'blind', 'quiet', { pongEveryMs: 200, maxPongs: 100 });
      const client = slow;
      await waitFor(() => logs.find(BLIND_PONG_LOG).length > 0 || !client.ponging, 30_000);
      expect(client.ponging).toBe(true);
      const [line] = logs.find(BLIND_PONG_LOG);
      expect(line).toMatchObject({ level: 'warn', reason: 'blind_pong', userId: 'blind' });
      const text = await exposition(t.url);
      expect(sampleValue(text, 'ws_disconnects_total', { reason: 'blind_pong' })).toBe(1);
      expect(sampleValue(text, 'ws_connections')).toBe(0);
      // Nothing was queued for it, so the close frame goes out first (1005, no status) and it can see it.
      await expect(client.resumeAndWaitClosed(10_000)).resolves.toMatchObject({ code: 1005 });
    }, 40_000);

    it('a reading client that answers real pings stays connected through several heartbeats', async () => {
      const reader = await connectClient(t.url, 'reader', ['quiet']);
      try {
        let pings = 0;
        reader.io.engine.on('ping', () => pings++);
        await waitFor(() => pings >= 3, 15_000);
        expect(reader.connected).toBe(true);
        expect(logs.lines.filter((l) => l.userId === 'reader' && l.reason !== undefined)).toEqual([]);
      } finally {
        reader.disconnect();
      }
    }, 20_000);
  });
});
