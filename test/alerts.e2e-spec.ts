import request from 'supertest';
import { AlertDelivery } from '../src/alerts/alert-delivery';
import { AlertDispatcher } from '../src/alerts/alert-dispatcher';
import { AlertHistory } from '../src/alerts/alert-history';
import { AlertScheduler } from '../src/alerts/alert-scheduler';
import type { AlertNotification } from '../src/alerts/alert.types';
import { MemoryMonitor } from '../src/alerts/monitors/memory.monitor';
import { RedisMonitor } from '../src/alerts/monitors/redis.monitor';
import { TrafficMonitor } from '../src/alerts/monitors/traffic.monitor';
import { RedisService } from '../src/redis/redis.service';
import { SmtpReceiver, WebhookReceiver } from './utils/alert-receivers';
import { LogCapture } from './utils/log-capture';
import { RedisTestServer } from './utils/redis-server';
import { createTestApp, TEST_JWT_SECRET, TestApp } from './utils/test-app';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';

/** Timers never fire on their own in these tests: every check is a direct call. */
const NO_TICKS = {
  ALERT_REDIS_INTERVAL_MS: '86400000',
  ALERT_MEMORY_INTERVAL_MS: '86400000',
  ALERT_EVAL_INTERVAL_MS: '86400000',
};
const SLACK_PATH = '/services/T0000/B0000/slack-secret-path-xyz';
const DISCORD_PATH = '/api/webhooks/123/discord-secret-path-xyz';

async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not within ${timeoutMs}ms`);
}

/** One scheduled run of a monitor, and every notification it caused delivered. */
async function runCheck(t: TestApp, monitor: RedisMonitor | MemoryMonitor | TrafficMonitor): Promise<void> {
  await t.app.get(AlertScheduler).run(monitor);
  await t.app.get(AlertDelivery).flush();
}

describe('Alerts (e2e)', () => {
  describe('GET /alerts', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp({ ...NO_TICKS, METRICS_TOKEN: 'alerts-token' });
    });
    afterAll(() => t.close());

    it('is guarded by METRICS_TOKEN', async () => {
      await request(t.url).get('/alerts').expect(401);
      await request(t.url).get('/alerts').set('authorization', 'Bearer wrong').expect(401);
    });

    it('answers {active, recent}', async () => {
      const res = await request(t.url).get('/alerts').set('authorization', 'Bearer alerts-token').expect(200);
      expect(res.body).toEqual({ active: [], recent: [] });
    });
  });

  describe('Redis killed and brought back, every channel configured', () => {
    const redis = new RedisTestServer();
    const slack = new WebhookReceiver();
    const discord = new WebhookReceiver(204);
    const smtp = new SmtpReceiver();
    let t: TestApp;

    beforeAll(async () => {
      await Promise.all([redis.start(), slack.start(), discord.start(), smtp.start()]);
      t = await createTestApp({
        ...NO_TICKS,
        SERVICE_NAME: 'alerts-e2e',
        REDIS_URL: redis.url,
        SLACK_WEBHOOK: slack.url(SLACK_PATH),
        DISCORD_WEBHOOK: discord.url(DISCORD_PATH),
        SMTP_URL: smtp.url,
        ALERT_EMAIL_TO: 'oncall@example.test',
      });
      await waitFor(() => t.app.get(RedisService).isReady, 5000, 'Redis ready');
    });
    afterAll(async () => {
      await t.close();
      await Promise.all([redis.stop(), slack.stop(), discord.stop(), smtp.stop()]);
    });

    it('sends exactly one critical per channel, then exactly one resolved', async () => {
      const monitor = t.app.get(RedisMonitor);
      await runCheck(t, monitor);
      expect(slack.requests).toHaveLength(0);

      await redis.kill();
      await waitFor(() => !t.app.get(RedisService).isReady, 5000, 'Redis seen down');
      const before = Math.floor(Date.now() / 1000);
      for (let i = 0; i < 3; i++) await runCheck(t, monitor);

      expect(slack.requests.map((r) => r.path)).toEqual([SLACK_PATH]);
      const critical = slack.bodies[0] as { attachments: Array<{ text: string; ts: number }> };
      const text = critical.attachments[0].text;
      expect(text).toMatch(
        /^\[CRITICAL\] Redis is unreachable: Redis connection is not available \(status: \w+\)$/,
      );
      expect(slack.bodies).toEqual([
        { attachments: [{ color: '#FF0000', text, footer: 'alerts-e2e', ts: expect.any(Number) }] },
      ]);
      expect(critical.attachments[0].ts).toBeGreaterThanOrEqual(before);
      expect(critical.attachments[0].ts).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));
      expect(discord.bodies).toEqual([
        {
          embeds: [
            {
              description: text,
              color: 0xff0000,
              footer: { text: 'alerts-e2e' },
              timestamp: expect.any(String),
            },
          ],
        },
      ]);
      expect(smtp.messages).toHaveLength(1);
      expect(smtp.messages[0]).toMatchObject({
        from: 'alerts-e2e@localhost',
        to: ['oncall@example.test'],
        subject: '[CRITICAL] alerts-e2e: Redis',
      });
      expect(smtp.messages[0].raw).toContain('Redis is unreachable');

      const during = await request(t.url).get('/alerts').expect(200);
      expect(during.body.active).toEqual([
        {
          key: 'redis.down',
          severity: 'critical',
          message: text.replace('[CRITICAL] ', ''),
          value: null,
          threshold: null,
          since: expect.any(String),
        },
      ]);

      await redis.start();
      await waitFor(() => t.app.get(RedisService).isReady, 8000, 'Redis back');
      for (let i = 0; i < 3; i++) await runCheck(t, monitor);

      expect(slack.bodies).toHaveLength(2);
      expect(slack.bodies[1]).toEqual({
        attachments: [
          {
            color: '#0000FF',
            text: expect.stringMatching(/^\[RESOLVED\] Redis is reachable again after \d+s$/),
            footer: 'alerts-e2e',
            ts: expect.any(Number),
          },
        ],
      });
      expect(discord.bodies).toHaveLength(2);
      expect(discord.bodies[1]).toMatchObject({
        embeds: [
          {
            color: 0x0000ff,
            description: (slack.bodies[1] as { attachments: Array<{ text: string }> }).attachments[0].text,
          },
        ],
      });
      expect(smtp.messages.map((m) => m.subject)).toEqual([
        '[CRITICAL] alerts-e2e: Redis',
        '[RESOLVED] alerts-e2e: Redis',
      ]);

      const after = await request(t.url).get('/alerts').expect(200);
      expect(after.body.active).toEqual([]);
      expect(
        after.body.recent.map(
          (r: { key: string; from: string; to: string }) => `${r.key}:${r.from}->${r.to}`,
        ),
      ).toEqual(['redis.down:critical->ok', 'redis.down:ok->critical']);
      expect(after.body.recent[0]).toEqual({
        key: 'redis.down',
        from: 'critical',
        to: 'ok',
        message: 'Redis is reachable',
        value: null,
        threshold: null,
        timestamp: expect.any(String),
        instanceId: expect.any(String),
      });

      const counts = await t.app.get(AlertDispatcher).counter.get();
      const byChannel = Object.fromEntries(
        counts.values.map((v) => [`${v.labels.channel}/${v.labels.result}`, v.value]),
      );
      expect(byChannel).toEqual({ 'slack/success': 2, 'discord/success': 2, 'email/success': 2 });
      const prom = await request(t.url).get('/metrics/prometheus').expect(200);
      expect(prom.text).toContain('alerts_notifications_total{channel="slack",result="success"} 2');
      expect(prom.text).toContain('alerts_notifications_total{channel="email",result="success"} 2');
      // `recent` came from the app's shared history store, not the fallback list.
      expect(t.app.get(AlertHistory).hasStore).toBe(true);
    });
  });

  describe('traffic monitor on the real metrics', () => {
    const slack = new WebhookReceiver();
    let t: TestApp;
    beforeAll(async () => {
      await slack.start();
      t = await createTestApp({
        ...NO_TICKS,
        SLACK_WEBHOOK: slack.url(SLACK_PATH),
        ALERT_CONNECTIONS_WARNING: '1',
        ALERT_CONNECTIONS_CRITICAL: '3',
      });
    });
    afterAll(async () => {
      await t.close();
      await slack.stop();
    });

    it('active WebSocket connections past the warning level fire on the second evaluation', async () => {
      const token = jwt.sign({ sub: 'user-1' }, TEST_JWT_SECRET, { expiresIn: '5m' });
      const socket = io(t.url, { transports: ['websocket'], reconnection: false, auth: { token } });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', () => resolve());
          socket.once('connect_error', reject);
        });
        const monitor = t.app.get(TrafficMonitor);
        await runCheck(t, monitor);
        expect(slack.requests).toHaveLength(0);
        await runCheck(t, monitor);
        const res = await request(t.url).get('/alerts').expect(200);
        expect(res.body.active).toEqual([
          {
            key: 'websocket.connections',
            severity: 'warning',
            message: 'Active connections is 1, at or above the warning threshold of 1',
            value: 1,
            threshold: 1,
            since: expect.any(String),
          },
        ]);
        expect(slack.bodies).toEqual([
          {
            attachments: [
              {
                color: '#FFA500',
                text: expect.stringMatching(
                  /^\[WARNING\] Active connections is 1, at or above the warning threshold of 1 \[instance .+\]$/,
                ),
                footer: 'websocket-server',
                ts: expect.any(Number),
              },
            ],
          },
        ]);
      } finally {
        socket.disconnect();
      }
    });
  });

  describe('two replicas sharing one Redis', () => {
    const redis = new RedisTestServer();
    const slack = new WebhookReceiver();
    let a: TestApp;
    let b: TestApp;
    const env = () => ({
      ...NO_TICKS,
      REDIS_URL: redis.url,
      SLACK_WEBHOOK: slack.url(SLACK_PATH),
      // Any latency breaches: both replicas see a cluster-wide alert at once.
      ALERT_REDIS_LATENCY_WARNING: '0',
      ALERT_REDIS_LATENCY_CRITICAL: '0',
    });

    beforeAll(async () => {
      await Promise.all([redis.start(), slack.start()]);
      a = await createTestApp({ ...env(), RAILWAY_REPLICA_ID: 'replica-a' });
      b = await createTestApp({ ...env(), RAILWAY_REPLICA_ID: 'replica-b' });
      await waitFor(
        () => a.app.get(RedisService).isReady && b.app.get(RedisService).isReady,
        5000,
        'Redis ready',
      );
    });
    afterAll(async () => {
      await a.close();
      await b.close();
      await Promise.all([redis.stop(), slack.stop()]);
    });

    const texts = () =>
      slack.bodies.map((x) => (x as { attachments: Array<{ text: string }> }).attachments[0].text);

    it('a cluster-wide alert is posted once, by whichever replica takes the Redis lock', async () => {
      for (let i = 0; i < 2; i++) {
        await runCheck(a, a.app.get(RedisMonitor));
        await runCheck(b, b.app.get(RedisMonitor));
      }
      expect(texts()).toEqual([
        expect.stringMatching(
          /^\[CRITICAL\] Redis latency is [\d.]+ ms, at or above the critical threshold of 0 ms$/,
        ),
      ]);
      // Both replicas hold the alert; only the channel was spared the duplicate.
      for (const t of [a, b]) {
        const res = await request(t.url).get('/alerts').expect(200);
        expect(res.body.active.map((x: { key: string }) => x.key)).toEqual(['redis.latency']);
      }
    });

    it('Redis down: the lock cannot be taken, so each replica posts (documented); back up: one resolved', async () => {
      slack.reset();
      await redis.kill();
      await waitFor(
        () => !a.app.get(RedisService).isReady && !b.app.get(RedisService).isReady,
        5000,
        'Redis seen down',
      );
      await runCheck(a, a.app.get(RedisMonitor));
      await runCheck(b, b.app.get(RedisMonitor));
      expect(texts()).toEqual([
        expect.stringMatching(/^\[CRITICAL\] Redis is unreachable/),
        expect.stringMatching(/^\[CRITICAL\] Redis is unreachable/),
      ]);

      await redis.start();
      await waitFor(
        () => a.app.get(RedisService).isReady && b.app.get(RedisService).isReady,
        8000,
        'Redis back',
      );
      for (let i = 0; i < 2; i++) {
        await runCheck(a, a.app.get(RedisMonitor));
        await runCheck(b, b.app.get(RedisMonitor));
      }
      expect(texts().slice(2)).toEqual([
        expect.stringMatching(/^\[RESOLVED\] Redis is reachable again after/),
      ]);
    });
  });

  describe('faulty channels', () => {
    const TIMEOUT = 1500;
    const slack = new WebhookReceiver();
    const discord = new WebhookReceiver(204);
    const smtp = new SmtpReceiver();
    const logs = new LogCapture();
    let t: TestApp;
    let n = 0;

    const notification = (): AlertNotification => ({
      key: 'system.cpu',
      kind: 'firing',
      level: 'warning',
      text: `[WARNING] test notification ${++n}`,
      title: '[WARNING] faults: CPU usage',
      timestamp: Date.now(),
      clusterWide: false,
    });

    beforeAll(async () => {
      await Promise.all([slack.start(), discord.start(), smtp.start()]);
      logs.start();
      t = await createTestApp({
        ...NO_TICKS,
        LOG_LEVEL: 'debug',
        SERVICE_NAME: 'faults',
        SLACK_WEBHOOK: slack.url(SLACK_PATH),
        DISCORD_WEBHOOK: discord.url(DISCORD_PATH),
        SMTP_URL: smtp.url,
        ALERT_EMAIL_TO: 'oncall@example.test',
        ALERT_NOTIFY_TIMEOUT_MS: String(TIMEOUT),
        // Memory always breaches, the heap never: one alert to drive through the monitor path.
        ALERT_MEMORY_WARNING: '0',
        ALERT_MEMORY_CRITICAL: '0',
      });
    });
    beforeEach(() => {
      slack.reset();
      discord.reset();
    });
    afterAll(async () => {
      await t.close();
      logs.stop();
      await Promise.all([slack.stop(), discord.stop(), smtp.stop()]);
    });

    // No upper bounds on wall-clock time here (they fail on a busy machine, not on a bug): a send that overran its
    // time limit ends as result 'timeout', so a 'failure' or 'success' outcome shows it finished within it.
    const dispatch = () => t.app.get(AlertDispatcher).dispatch(notification());
    const slackFailureLogged = () =>
      logs.find('Alert notification failed').some((l) => l.channel === 'slack' && l.key === 'system.memory');

    it('500: retried with backoff, then given up within the timeout; the others deliver', async () => {
      slack.fallback = { kind: 'status', status: 500 };
      const outcomes = await dispatch();
      expect(outcomes).toEqual([
        { channel: 'slack', result: 'failure', error: 'HTTP 500 after 3 attempts' },
        { channel: 'discord', result: 'success' },
        { channel: 'email', result: 'success' },
      ]);
      expect(slack.requests).toHaveLength(3);
      expect(discord.requests).toHaveLength(1);
    });

    it('429 with Retry-After: waits as told, then delivers', async () => {
      slack.respond({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
      const outcomes = await dispatch();
      expect(outcomes[0]).toEqual({ channel: 'slack', result: 'success' });
      expect(slack.requests).toHaveLength(2);
      expect(slack.requests[1].at - slack.requests[0].at).toBeGreaterThanOrEqual(950);
      expect(slack.bodies[0]).toEqual(slack.bodies[1]);
    });

    it('429 asking for longer than the time left: gives up at once instead of overrunning', async () => {
      slack.respond({ kind: 'status', status: 429, headers: { 'retry-after': '30' } });
      const outcomes = await dispatch();
      expect(outcomes[0]).toEqual({
        channel: 'slack',
        result: 'failure',
        error: 'HTTP 429; retry in 10000ms would pass the send timeout',
      });
      expect(slack.requests).toHaveLength(1);
    });

    it('connection reset: retried, then a failure; the others deliver', async () => {
      slack.fallback = { kind: 'reset' };
      const outcomes = await dispatch();
      expect(outcomes[0]).toEqual({
        channel: 'slack',
        result: 'failure',
        error: expect.stringMatching(/^request failed \((ECONNRESET|UND_ERR_SOCKET)\) after 3 attempts$/),
      });
      expect(outcomes.slice(1).map((o) => o.result)).toEqual(['success', 'success']);
    });

    it('never answers: ends at the timeout while the others have delivered and the monitors keep running', async () => {
      slack.fallback = { kind: 'hang' };
      const scheduler = t.app.get(AlertScheduler);
      const memory = t.app.get(MemoryMonitor);
      const mailsBefore = smtp.messages.length;
      // Ordering rather than wall-clock windows: the monitors and the other channels are done while the Slack
      // send is still hanging (its failure not yet logged), and that send ends as a timeout, not before its time.
      // Only lower bounds on time: a busy machine makes everything slower, never a timer early.
      const started = Date.now();
      // Two runs: memory breaches twice and fires; the sends go on in the background.
      expect(await scheduler.run(memory)).toBe(true);
      expect(await scheduler.run(memory)).toBe(true);
      expect(slackFailureLogged()).toBe(false);
      await waitFor(
        () => discord.requests.length === 1 && smtp.messages.length === mailsBefore + 1,
        TIMEOUT,
        'other channels delivered',
      );
      expect(slackFailureLogged()).toBe(false);
      expect(slack.requests).toHaveLength(1);
      // A third run while the Slack send still hangs is not held up either.
      expect(await scheduler.run(memory)).toBe(true);
      expect(slackFailureLogged()).toBe(false);
      await t.app.get(AlertDelivery).flush();
      expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT - 50);
      const failed = logs
        .find('Alert notification failed')
        .filter((l) => l.channel === 'slack' && l.key === 'system.memory');
      expect(failed).toEqual([
        expect.objectContaining({
          level: 'warn',
          result: 'timeout',
          error: expect.stringMatching(/^timed out after 1500ms/),
        }),
      ]);
    });

    it('counts every outcome and never logs a webhook URL', async () => {
      const counts = await t.app.get(AlertDispatcher).counter.get();
      const byKey = Object.fromEntries(
        counts.values.map((v) => [`${v.labels.channel}/${v.labels.result}`, v.value]),
      );
      expect(byKey).toEqual({
        'slack/failure': 3,
        'slack/success': 1,
        'slack/timeout': 1,
        'discord/success': 5,
        'email/success': 5,
      });
      expect(logs.find('Alert notification failed').length).toBeGreaterThanOrEqual(4);
      expect(logs.text).not.toContain('secret-path-xyz');
      expect(logs.text).not.toContain(`127.0.0.1:${slack.port}`);
      expect(logs.text).not.toContain(`127.0.0.1:${discord.port}`);
    });
  });
});
