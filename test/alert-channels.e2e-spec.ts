import { createHmac, timingSafeEqual } from 'node:crypto';
import { AlertDelivery } from '../src/alerts/alert-delivery';
import { AlertScheduler } from '../src/alerts/alert-scheduler';
import { ALERT_KEYS } from '../src/alerts/alert-keys';
import { InstanceInfo } from '../src/lifecycle/instance-info';
import { RedisService } from '../src/redis/redis.service';
import { ReceivedRequest, WebhookReceiver } from './utils/alert-receivers';
import { LogCapture } from './utils/log-capture';
import { RedisTestServer } from './utils/redis-server';
import { SetMonitor } from './utils/set-monitor';
import { createTestApp, TestApp } from './utils/test-app';

const HOUR = '3600000';
const NO_TICKS = {
  ALERT_REDIS_INTERVAL_MS: HOUR,
  ALERT_MEMORY_INTERVAL_MS: HOUR,
  ALERT_EVAL_INTERVAL_MS: HOUR,
};
const ROUTING_KEY = 'R0UTINGKEY0123456789abcdefabcdef';
const WEBHOOK_SECRET = 'webhook-signing-secret-0123456789abcdef';
const WEBHOOK_PATH = '/hooks/alerts-secret-path-42';
const SERVICE = 'channels';

/** The receiver-side check the docs show: the signature over "<timestamp>.<raw body>", and a fresh timestamp. */
function verify(secret: string, req: ReceivedRequest, nowSeconds: number, toleranceSeconds = 300): boolean {
  const timestamp = String(req.headers['x-alert-timestamp'] ?? '');
  const signature = String(req.headers['x-alert-signature'] ?? '');
  const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${req.raw}`).digest('hex')}`;
  const fresh = Math.abs(nowSeconds - Number(timestamp)) <= toleranceSeconds;
  return (
    fresh &&
    signature.length === expected.length &&
    timingSafeEqual(Buffer.from(signature), Buffer.from(expected))
  );
}

async function evaluate(t: TestApp, monitor: SetMonitor, value: number): Promise<void> {
  monitor.value = value;
  await t.app.get(AlertScheduler).run(monitor);
  await t.app.get(AlertDelivery).flush();
}

describe('PagerDuty and signed webhook channels', () => {
  const pagerduty = new WebhookReceiver(202);
  const webhook = new WebhookReceiver();
  const slack = new WebhookReceiver();
  const logs = new LogCapture();
  let t: TestApp;
  let instance: string;

  beforeAll(async () => {
    await Promise.all([pagerduty.start(), webhook.start(), slack.start()]);
    logs.start();
    t = await createTestApp({
      ...NO_TICKS,
      LOG_LEVEL: 'debug',
      SERVICE_NAME: SERVICE,
      PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
      PAGERDUTY_EVENTS_URL: pagerduty.url('/v2/enqueue'),
      ALERT_WEBHOOK_URL: webhook.url(WEBHOOK_PATH),
      ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET,
      SLACK_WEBHOOK: slack.url('/services/T/B/slack-secret'),
      ALERT_NOTIFY_TIMEOUT_MS: '2000',
      ALERT_RUNBOOK_BASE_URL: 'https://runbooks.example/ops',
    });
    instance = t.app.get(InstanceInfo).id;
  });
  afterAll(async () => {
    await t?.close();
    logs.stop();
    await Promise.all([pagerduty.stop(), webhook.stop(), slack.stop()]);
  });
  beforeEach(() => {
    for (const r of [pagerduty, webhook, slack]) r.reset();
  });

  it('PagerDuty: trigger, escalation and resolve under one dedup_key, severities mapped, runbook linked', async () => {
    const cpu = new SetMonitor(ALERT_KEYS.cpu, 'CPU usage');
    for (const v of [80, 80, 95, 95, 10, 10]) await evaluate(t, cpu, v);
    const dedupKey = `${SERVICE}/system.cpu/${instance}`;
    const [fired, escalated, resolved] = pagerduty.bodies as Array<Record<string, any>>;
    expect(pagerduty.bodies).toHaveLength(3);
    expect(pagerduty.requests.every((r) => r.path === '/v2/enqueue')).toBe(true);
    expect(fired).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: dedupKey,
      payload: {
        summary: `[WARNING] CPU usage is 80%, at or above the warning threshold of 70% [instance ${instance}]`,
        source: instance,
        severity: 'warning',
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        component: SERVICE,
        group: 'system',
        class: 'system.cpu',
        custom_details: {
          kind: 'firing',
          title: `[WARNING] ${SERVICE}: CPU usage`,
          instance,
          cluster_wide: false,
        },
      },
      links: [{ href: 'https://runbooks.example/ops#systemcpu', text: 'Runbook' }],
    });
    expect([escalated.event_action, escalated.dedup_key, escalated.payload.severity]).toEqual([
      'trigger',
      dedupKey,
      'critical',
    ]);
    expect(resolved).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: dedupKey });
  });

  it('PagerDuty: 429 and 5xx are retried (Retry-After honoured), a 400 is not', async () => {
    pagerduty.respond(
      { kind: 'status', status: 429, headers: { 'retry-after': '0' } },
      { kind: 'status', status: 502 },
    );
    const memory = new SetMonitor(ALERT_KEYS.memory, 'Memory usage');
    await evaluate(t, memory, 99);
    await evaluate(t, memory, 99);
    expect(pagerduty.requests.map((r) => (r.body as { event_action: string }).event_action)).toEqual([
      'trigger',
      'trigger',
      'trigger',
    ]);
    pagerduty.reset();
    pagerduty.respond({ kind: 'status', status: 400 });
    await evaluate(t, memory, 1);
    await evaluate(t, memory, 1);
    expect(pagerduty.requests).toHaveLength(1);
  });

  it('webhook: the documented body, signed over timestamp and body; a changed body or an old timestamp fails', async () => {
    const errors = new SetMonitor(ALERT_KEYS.httpErrorRate, 'HTTP error rate');
    await evaluate(t, errors, 95);
    await evaluate(t, errors, 95);
    expect(webhook.requests).toHaveLength(1);
    const [req] = webhook.requests;
    expect(req.path).toBe(WEBHOOK_PATH);
    expect(req.body).toEqual({
      version: 1,
      service: SERVICE,
      instance,
      key: 'http.error_rate',
      alertname: 'HttpErrorRate',
      kind: 'firing',
      level: 'critical',
      text: `[CRITICAL] HTTP error rate is 95%, at or above the critical threshold of 90% [instance ${instance}]`,
      title: `[CRITICAL] ${SERVICE}: HTTP error rate`,
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      clusterWide: false,
    });
    const now = Math.floor(Date.now() / 1000);
    expect(verify(WEBHOOK_SECRET, req, now)).toBe(true);
    expect(verify(WEBHOOK_SECRET, { ...req, raw: req.raw.replace('95%', '96%') }, now)).toBe(false);
    expect(verify('another-secret-0123456789abcdef0123', req, now)).toBe(false);
    expect(verify(WEBHOOK_SECRET, req, now + 301)).toBe(false); // a replay ten minutes later is refused
  });

  it('a hung channel costs only itself: PagerDuty and the webhook are served while Slack hangs', async () => {
    slack.fallback = { kind: 'hang' };
    const heap = new SetMonitor(ALERT_KEYS.heap, 'V8 heap usage');
    const started = Date.now();
    heap.value = 99;
    const scheduler = t.app.get(AlertScheduler);
    await scheduler.run(heap);
    await scheduler.run(heap);
    const deadline = Date.now() + 1500;
    while ((pagerduty.requests.length === 0 || webhook.requests.length === 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect([pagerduty.requests.length, webhook.requests.length, slack.requests.length]).toEqual([1, 1, 1]);
    expect(Date.now() - started).toBeLessThan(1500); // Slack's send is still waiting for its 2 s timeout
    await t.app.get(AlertDelivery).flush();
    heap.value = 1;
    slack.fallback = { kind: 'status', status: 200 };
    await evaluate(t, heap, 1);
    await evaluate(t, heap, 1);
  });

  it('never logs the routing key, the webhook URL or its secret', () => {
    expect(logs.text).toContain('Alert notification'); // the channels did log their outcomes
    for (const secret of [ROUTING_KEY, WEBHOOK_PATH, WEBHOOK_SECRET]) expect(logs.text).not.toContain(secret);
  });
});

describe('PagerDuty across replicas', () => {
  const redis = new RedisTestServer();
  const pagerduty = new WebhookReceiver(202);
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    await Promise.all([redis.start(), pagerduty.start()]);
    const env = {
      ...NO_TICKS,
      SERVICE_NAME: SERVICE,
      REDIS_URL: redis.url,
      PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
      PAGERDUTY_EVENTS_URL: pagerduty.url('/v2/enqueue'),
    };
    a = await createTestApp({ ...env, RAILWAY_REPLICA_ID: 'replica-a' });
    b = await createTestApp({ ...env, RAILWAY_REPLICA_ID: 'replica-b' });
    const deadline = Date.now() + 5000;
    while (!(a.app.get(RedisService).isReady && b.app.get(RedisService).isReady)) {
      if (Date.now() > deadline) throw new Error('Redis not ready within 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await Promise.all([redis.stop(), pagerduty.stop()]);
  });

  it('a cluster-wide alert seen by every replica triggers once, with a dedup_key without instance', async () => {
    const latencyA = new SetMonitor(ALERT_KEYS.redisLatency, 'Redis latency');
    const latencyB = new SetMonitor(ALERT_KEYS.redisLatency, 'Redis latency');
    for (let i = 0; i < 2; i++) {
      await evaluate(a, latencyA, 95);
      await evaluate(b, latencyB, 95);
    }
    expect(pagerduty.bodies.map((x) => (x as { event_action: string; dedup_key: string }).dedup_key)).toEqual(
      [`${SERVICE}/redis.latency`],
    );
  });
});
