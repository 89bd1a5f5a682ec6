import type { Socket as ServerSocket } from 'socket.io';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { AlertDelivery } from '../src/alerts/alert-delivery';
import { AlertScheduler } from '../src/alerts/alert-scheduler';
import { MemoryMonitor } from '../src/alerts/monitors/memory.monitor';
import { MetricsSnapshotJob } from '../src/history/metrics-snapshot.job';
import { RealtimeGateway } from '../src/realtime/realtime.gateway';
import { ConnectionCounts } from '../src/realtime/connection-counts';
import type { SocketIdentity } from '../src/realtime/socket-auth';
import { WebhookReceiver } from './utils/alert-receivers';
import { LogCapture } from './utils/log-capture';
import { freePort } from './utils/ports';
import { PublishTraffic } from './utils/publish-traffic';
import { RawEngineClient } from './utils/raw-engine-client';
import { exposition, expectServerServes, sampleValue } from './utils/server-checks';
import { SilentTcpServer } from './utils/silent-server';
import {
  closeAll,
  collect,
  connectClient,
  emitAck,
  makeToken,
  sleep,
  subscribed,
  waitFor,
} from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

const PUBLISH_TOKEN = 'fault-deps-publish-token-0123456789';
const HEALTH_TIMEOUT_MS = 500;
/** Timers never fire on their own: every alert check is a direct call. */
const NO_TICKS = {
  ALERT_REDIS_INTERVAL_MS: '86400000',
  ALERT_MEMORY_INTERVAL_MS: '86400000',
  ALERT_EVAL_INTERVAL_MS: '86400000',
  METRICS_SNAPSHOT_INTERVAL_MS: '86400000',
};

async function timed<T>(what: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await what();
  return { value, ms: performance.now() - started };
}

const get = (url: string, path: string) => request(url).get(path).timeout(10_000);

/** Connected, subscribed clients that collect every update of `portfolio`: what the server holds. */
async function holders(url: string, portfolio: string, count: number, sockets: Socket[]) {
  const received: Array<{ items: Array<{ data: { seq?: number } }> }> = [];
  const list: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const s = await connectClient(url, `${portfolio}-holder-${i}`, [portfolio]);
    sockets.push(s);
    list.push(s);
    await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: portfolio })).resolves.toMatchObject({
      ok: true,
    });
    received.push(collect(s, 'portfolio:update'));
  }
  return {
    list,
    /** Every holder still connected, and every publish of `traffic` arrived at each, in order. */
    async expectNothingLost(traffic: PublishTraffic) {
      const sent = await traffic.stop();
      await waitFor(() => received.every((r) => r.items.length >= sent), 3000);
      for (const s of list) expect(s.connected).toBe(true);
      const expected = Array.from({ length: sent }, (_, i) => i);
      for (const r of received) expect(r.items.map((u) => u.data.seq)).toEqual(expected);
      for (const o of traffic.outcomes) {
        expect(o.status).toBe(202);
        expect(o.elapsedMs).toBeLessThan(2000);
      }
    },
  };
}

describe.each([
  [
    'unreachable (a closed port)',
    async () => ({ uri: `mongodb://127.0.0.1:${await freePort()}/faults`, stop: async () => undefined }),
  ],
  [
    'hanging (accepts, never answers)',
    async () => {
      const silent = await new SilentTcpServer().start();
      return { uri: `mongodb://127.0.0.1:${silent.port}/faults`, stop: () => silent.stop() };
    },
  ],
])('Fault: MongoDB %s (e2e)', (_name, address) => {
  const logs = new LogCapture();
  const sockets: Socket[] = [];
  let t: TestApp;
  let stopAddress: () => Promise<void>;

  beforeAll(async () => {
    const a = await address();
    stopAddress = a.stop;
    logs.start();
    t = await createTestApp({
      ...NO_TICKS,
      MONGODB_URI: a.uri,
      PUBLISH_TOKEN,
      HEALTH_CHECK_TIMEOUT_MS: String(HEALTH_TIMEOUT_MS),
      LOG_LEVEL: 'info',
    });
  }, 20_000);
  afterAll(async () => {
    closeAll(sockets);
    const started = Date.now();
    await t?.close();
    expect(Date.now() - started).toBeLessThan(5000);
    logs.stop();
    await stopAddress();
  });

  it('history writes fail fast, /metrics/history is 503 promptly, and everything else serves', async () => {
    const held = await holders(t.url, 'mongo', 3, sockets);
    const traffic = new PublishTraffic(t.url, PUBLISH_TOKEN, 'mongo').start();

    for (let i = 0; i < 3; i++) {
      const write = await timed(() => t.app.get(MetricsSnapshotJob).run());
      expect(write.ms).toBeLessThan(2000);
    }
    for (let i = 0; i < 3; i++) {
      const history = await timed(() => get(t.url, '/metrics/history?range=1h'));
      expect(history.value.status).toBe(503);
      expect(history.value.body).toMatchObject({
        statusCode: 503,
        message: expect.stringContaining('MongoDB'),
      });
      expect(history.ms).toBeLessThan(2000);
    }
    const db = await timed(() => get(t.url, '/health/database'));
    expect(db.value.status).toBe(503);
    expect(db.ms).toBeLessThan(HEALTH_TIMEOUT_MS + 1000);
    const ready = await timed(() => get(t.url, '/health/ready'));
    expect(ready.value.status).toBe(503);
    expect(ready.value.body.error).toMatchObject({ database: { status: 'down' } });
    expect(ready.ms).toBeLessThan(HEALTH_TIMEOUT_MS + 1000);
    await get(t.url, '/health').expect(200);
    await get(t.url, '/metrics').expect(200);
    await get(t.url, '/alerts').expect(200);
    expect(sampleValue(await exposition(t.url), 'ws_connections')).toBe(3);

    await held.expectNothingLost(traffic);
    expect(
      logs.find('History writes failing: buffering records until MongoDB answers').length,
    ).toBeGreaterThanOrEqual(1);
    await expectServerServes(t.url, PUBLISH_TOKEN);
  }, 30_000);
});

describe.each([
  ['hangs', { kind: 'hang' as const }, 'timeout'],
  ['resets the connection', { kind: 'reset' as const }, 'failure'],
])('Fault: a Slack webhook that %s (e2e)', (_name, behaviour, result) => {
  const NOTIFY_TIMEOUT_MS = 1000;
  const SECRET_PATH = '/services/T000/B000/fault-secret-path';
  const slack = new WebhookReceiver();
  const logs = new LogCapture();
  const sockets: Socket[] = [];
  let t: TestApp;

  beforeAll(async () => {
    await slack.start();
    slack.fallback = behaviour;
    logs.start();
    t = await createTestApp({
      ...NO_TICKS,
      PUBLISH_TOKEN,
      SERVICE_NAME: 'webhook-faults',
      SLACK_WEBHOOK: slack.url(SECRET_PATH),
      ALERT_NOTIFY_TIMEOUT_MS: String(NOTIFY_TIMEOUT_MS),
      // Memory always breaches: one alert to drive through the real monitor path.
      ALERT_MEMORY_WARNING: '0',
      ALERT_MEMORY_CRITICAL: '0',
      LOG_LEVEL: 'info',
    });
  }, 20_000);
  afterAll(async () => {
    closeAll(sockets);
    await t?.close();
    logs.stop();
    await slack.stop();
  });

  it(`monitors and clients never wait on it; the ${result} is counted and logged without the URL`, async () => {
    const held = await holders(t.url, 'hooked', 3, sockets);
    const traffic = new PublishTraffic(t.url, PUBLISH_TOKEN, 'hooked').start();
    const scheduler = t.app.get(AlertScheduler);
    const memory = t.app.get(MemoryMonitor);

    // Two breaches fire the alert; the Slack send runs in the background.
    for (let i = 0; i < 2; i++) {
      const run = await timed(() => scheduler.run(memory));
      expect(run.value).toBe(true);
      expect(run.ms).toBeLessThan(NOTIFY_TIMEOUT_MS);
    }
    await waitFor(() => slack.requests.length >= 1, 2000);
    // While the send is stuck, the server answers as usual.
    const health = await timed(() => get(t.url, '/health'));
    expect(health.value.status).toBe(200);
    expect(health.ms).toBeLessThan(NOTIFY_TIMEOUT_MS);
    const alerts = await get(t.url, '/alerts').expect(200);
    expect(alerts.body.active).toEqual([expect.objectContaining({ key: 'system.memory' })]);

    const flushed = await timed(() => t.app.get(AlertDelivery).flush());
    expect(flushed.ms).toBeLessThan(NOTIFY_TIMEOUT_MS + 1000);
    expect(
      sampleValue(await exposition(t.url), 'alerts_notifications_total', { channel: 'slack', result }),
    ).toBe(1);
    const failed = logs.find('Alert notification failed');
    expect(failed).toEqual([
      expect.objectContaining({ level: 'warn', channel: 'slack', key: 'system.memory', result }),
    ]);
    expect(logs.text).not.toContain('fault-secret-path');
    expect(logs.text).not.toContain(`127.0.0.1:${slack.port}`);

    await held.expectNothingLost(traffic);
    await expectServerServes(t.url, PUBLISH_TOKEN);
  }, 30_000);
});

describe('Fault: a client that stops reading (e2e)', () => {
  const PING_INTERVAL_MS = 1000;
  const PING_TIMEOUT_MS = 1000;
  const sockets: Socket[] = [];
  let t: TestApp;
  let stalled: RawEngineClient | null = null;
  const reasons = new Map<string, string>();
  const logs = new LogCapture();

  beforeAll(async () => {
    logs.start();
    t = await createTestApp({
      PUBLISH_TOKEN,
      WS_PING_INTERVAL_MS: String(PING_INTERVAL_MS),
      WS_PING_TIMEOUT_MS: String(PING_TIMEOUT_MS),
      WS_RATE_LIMIT: '1000',
      WS_RATE_BURST: '1000',
    });
    // Observe why the server drops each socket (read only: no behaviour changes).
    t.app
      .get(RealtimeGateway)
      .server.on('connection', (s: ServerSocket) =>
        s.once('disconnect', (reason) => reasons.set((s.data as SocketIdentity).userId, reason)),
      );
  });
  afterAll(async () => {
    stalled?.terminate();
    closeAll(sockets);
    await t.close();
    logs.stop();
  });

  it('is disconnected after pingInterval + pingTimeout while others keep receiving everything', async () => {
    const held = await holders(t.url, 'stall', 2, sockets);
    stalled = await RawEngineClient.open(t.url, { answerPings: false });
    await stalled.connectAs(makeToken('stalled', ['stall']));
    await expect(stalled.emitWithAck(1, 'portfolio:subscribe', { portfolioId: 'stall' })).resolves.toEqual([
      subscribed('stall'),
    ]);
    const counts = t.app.get(ConnectionCounts);
    expect(counts.totalConnections).toBe(3);

    stalled.stopReading();
    const stalledAt = Date.now();
    // Updates for everybody, the stalled client included: its share piles up unread.
    const traffic = new PublishTraffic(t.url, PUBLISH_TOKEN, 'stall', 20, 150).start();
    await waitFor(() => reasons.has('stalled'), PING_INTERVAL_MS + PING_TIMEOUT_MS + 2000, 20);
    const after = Date.now() - stalledAt;
    expect(reasons.get('stalled')).toBe('ping timeout');
    expect(after).toBeLessThanOrEqual(PING_INTERVAL_MS + PING_TIMEOUT_MS + 1500);
    expect(after).toBeGreaterThanOrEqual(PING_TIMEOUT_MS - 100);
    expect(counts.totalConnections).toBe(2);
    expect(sampleValue(await exposition(t.url), 'ws_connections')).toBe(2);

    // The healthy clients answer their pings and are still here well past a ping cycle.
    await sleep(PING_INTERVAL_MS + PING_TIMEOUT_MS);
    await held.expectNothingLost(traffic);
    expect(reasons.has('stall-holder-0')).toBe(false);
    await expectServerServes(t.url, PUBLISH_TOKEN);
  }, 30_000);
});
