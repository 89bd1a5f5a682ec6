import { spawn, spawnSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import request from 'supertest';
import { APP_VERSION } from '../src/common/version';
import { AppConfig } from '../src/config/app-config';
import { METRICS_REGISTRY } from '../src/metrics/metrics.registry';
import { ConnectionRegistry } from '../src/realtime/connection-registry';
import { WS_EVENT_LABELS } from '../src/realtime/realtime.metric-names';
import { sleep } from '../src/common/with-timeout';
import { LogCapture, logBarrier } from './utils/log-capture';
import {
  createMetricsApp,
  MetricsApp,
  PROMETHEUS_ACCEPT,
  scrape,
  seriesValue,
  settle,
} from './utils/metrics-helpers';
import { RedisTestServer } from './utils/redis-server';
import { sampleValue } from './utils/server-checks';

const BROWSER_ACCEPT =
  'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

const value = seriesValue;

function promtool(input: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
    child.stdin.end(input);
  });
}

function promtoolAvailable(): boolean {
  return spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
}

describe('Metrics (e2e)', () => {
  describe('before the gateway is up', () => {
    let t: MetricsApp;
    beforeAll(async () => {
      t = await createMetricsApp({}, { holdGateway: true });
    });
    afterAll(() => t.close());

    it('JSON /metrics is 503 {"error":"WebSocket server not initialized"}; the exposition still answers', async () => {
      const res = await request(t.url).get('/metrics').expect(503);
      expect(res.body).toEqual({ error: 'WebSocket server not initialized' });
      await expect(t.metrics.snapshot()).rejects.toThrow('WebSocket server not initialized');
      const prom = await request(t.url).get('/metrics').set('Accept', PROMETHEUS_ACCEPT).expect(200);
      expect(prom.text).toContain('ws_connections 0');
    });

    it('answers 200 with the JSON shape once the gateway registers itself', async () => {
      t.release();
      const res = await request(t.url).get('/metrics').expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual({
        websocket: {
          totalConnections: 0,
          uniqueUsers: 0,
          redisEnabled: false,
          eventsPerSecond: expect.any(Number),
          latency: { p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) },
        },
        system: {
          uptime: expect.any(Number),
          memory: {
            heapUsed: expect.stringMatching(/^\d+(\.\d+)? MB$/),
            heapTotal: expect.stringMatching(/^\d+(\.\d+)? MB$/),
            rss: expect.stringMatching(/^\d+(\.\d+)? MB$/),
            external: expect.stringMatching(/^\d+(\.\d+)? MB$/),
          },
          cpu: expect.any(Number),
          eventLoopDelay: { p50: expect.any(Number), p99: expect.any(Number) },
        },
        http: {
          requestsPerSecond: expect.any(Number),
          errorRate: expect.any(Number),
          latency: { p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) },
        },
        business: { activeUsers: 0, subscriptionEvents: 0, trades: 0 },
        streams: {
          storage: 'memory',
          published: 0,
          unrecorded: 0,
          resumes: { recovered: 0, expired: 0, epochChanged: 0, unavailable: 0 },
          replayed: 0,
          idempotentRepeats: 0,
        },
        delivery: {
          publishToEmitP99: 0,
          publishToEmitPerSecond: 0,
          pubsubLagP99: 0,
          outputBacklog: { sockets: 0, totalBytes: 0, maxBytes: 0, sampledAt: null },
          traffic: { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0 },
          topDisconnectReasons: [],
          topRefusalReasons: [],
        },
        timestamp: expect.any(String),
      });
      expect(new Date(res.body.timestamp).toISOString()).toBe(res.body.timestamp);
      expect(res.body.system.cpu).toBeGreaterThanOrEqual(0);
      expect(res.body.system.cpu).toBeLessThanOrEqual(100);
      expect(res.body.redis).toBeUndefined();
    });
  });

  describe('counting traffic (no Redis)', () => {
    let t: MetricsApp;
    beforeAll(async () => {
      t = await createMetricsApp();
    });
    afterAll(() => t.close());

    it('HTTP: counters, histograms and the JSON window move by exactly the requests made', async () => {
      // A fresh window: everything recorded so far (start-up, earlier tests) is older than 60 s.
      t.clock.now += 61_000;
      const before = await scrape(t.url); // itself recorded once it has finished
      await settle();
      for (let i = 0; i < 7; i++) await request(t.url).get('/health').expect(200);
      for (let i = 0; i < 4; i++) await request(t.url).get(`/probe/items/${i}-${Math.random()}`).expect(200);
      for (let i = 0; i < 3; i++) await request(t.url).get('/probe/fail').expect(500);
      for (let i = 0; i < 5; i++) await request(t.url).get(`/no/such/path/${Math.random()}`).expect(404);
      await request(t.url).post('/health').expect(404);
      await settle();
      const after = await scrape(t.url);

      const delta = (name: string, labels: Record<string, string>) =>
        value(after, name, labels) - value(before, name, labels);
      const health = { method: 'GET', route: '/health', status_code: '200' };
      const items = { method: 'GET', route: '/probe/items/:id', status_code: '200' };
      const fail = { method: 'GET', route: '/probe/fail', status_code: '500' };
      const unmatched = { method: 'GET', route: 'unmatched', status_code: '404' };
      const unmatchedPost = { method: 'POST', route: 'unmatched', status_code: '404' };
      for (const [labels, n] of [
        [health, 7],
        [items, 4],
        [fail, 3],
        [unmatched, 5],
        [unmatchedPost, 1],
      ] as const) {
        expect(delta('http_requests_total', labels)).toBe(n);
        expect(delta('http_request_duration_seconds_count', labels)).toBe(n);
        expect(delta('http_request_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(n);
        expect(delta('http_request_duration_seconds_sum', labels)).toBeGreaterThan(0);
      }
      // The first scrape counts once it has finished.
      expect(
        delta('http_requests_total', { method: 'GET', route: '/metrics/prometheus', status_code: '200' }),
      ).toBe(1);

      // JSON: the window holds exactly the 13 requests that are not health probes (POST /health matched no
      // route), the first scrape, and the second one; 3 of them are 5xx.
      const res = await request(t.url).get('/metrics').expect(200);
      const total = 4 + 3 + 5 + 1 + 2;
      expect(Math.round(res.body.http.requestsPerSecond * 60)).toBe(total);
      expect(res.body.http.errorRate).toBeCloseTo((3 / total) * 100, 2);
      expect(res.body.http.latency.p50).toBeGreaterThan(0);
      expect(res.body.http.latency.p99).toBeGreaterThanOrEqual(res.body.http.latency.p95);
      expect(res.body.http.latency.p95).toBeGreaterThanOrEqual(res.body.http.latency.p50);

      // 60 s later the window is empty again; the counters are not.
      t.clock.now += 61_000;
      const later = await request(t.url).get('/metrics').expect(200);
      expect(later.body.http.requestsPerSecond).toBe(0);
      expect(later.body.http.errorRate).toBe(0);
      expect(later.body.http.latency).toEqual({ p50: 0, p95: 0, p99: 0 });
    });

    it('HTTP label cardinality stays bounded under random URLs and methods', async () => {
      const before = await scrape(t.url);
      const seriesBefore = [...before.keys()].filter((k) => k.startsWith('http_requests_total')).length;
      const methods = ['get', 'post', 'put', 'delete', 'patch'] as const;
      for (let i = 0; i < 60; i++) {
        const path = `/${Math.random().toString(36).slice(2)}/${i}?q=${Math.random()}`;
        await request(t.url)[methods[i % methods.length]](path).expect(404);
      }
      // Raw HTTP for the non-standard verbs supertest cannot send.
      for (const verb of ['PROPFIND', 'MKCOL', 'BREW']) {
        await new Promise<void>((resolve, reject) => {
          const req = httpRequest(`${t.url}/random/${Math.random()}`, { method: verb }, (res) => {
            res.resume();
            res.on('end', resolve);
          });
          req.on('error', reject);
          req.end();
        });
      }
      await settle();
      const after = await scrape(t.url);
      const keys = [...after.keys()].filter((k) => k.startsWith('http_requests_total'));
      for (const k of keys) {
        expect(k).toMatch(
          /route="(\/health|\/probe\/items\/:id|\/probe\/fail|unmatched|\/metrics|\/metrics\/prometheus)"/,
        );
        expect(k).toMatch(/method="(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|OTHER)"/);
      }
      // At most one new series per method × the unmatched route (plus the scrape's own route).
      expect(keys.length - seriesBefore).toBeLessThanOrEqual(6);
      expect(
        value(after, 'http_requests_total', { method: 'OTHER', route: 'unmatched', status_code: '404' }),
      ).toBe(2);
    });

    it('WebSocket and business figures move by exactly what is recorded; unknown names and codes share one label', async () => {
      t.clock.now += 61_000;
      const before = await scrape(t.url);
      const m = t.realtime;
      for (let i = 0; i < 5; i++) m.recordWsEvent('portfolio:subscribe', 2, 'ok');
      for (let i = 0; i < 2; i++) m.recordWsEvent('portfolio:subscribe', 4, 'forbidden');
      m.recordWsEvent('portfolio:unsubscribe', 2, 'ok');
      for (let i = 0; i < 100; i++) m.recordWsEvent(`evil-${Math.random()}`, 2, `CODE_${Math.random()}`);
      for (let i = 0; i < 3; i++) m.recordWsEvent('portfolio:unsubscribe', 2, `weird-${i}`);
      m.recordWsSent('portfolio:update', 12);
      m.recordWsSent('trade:executed', 3);
      m.recordWsSent(`junk-${Math.random()}`, 2);
      m.recordWsSent('portfolio:update', 0);
      for (let i = 0; i < 6; i++) m.recordSubscription('subscribe');
      for (let i = 0; i < 2; i++) m.recordSubscription('unsubscribe');
      for (let i = 0; i < 4; i++) m.recordPublished('trade:executed');
      m.recordPublished('portfolio:update');
      t.metrics.recordInternalError('redis_adapter_publish');
      const after = await scrape(t.url);
      const delta = (name: string, labels: Record<string, string> = {}) =>
        value(after, name, labels) - value(before, name, labels);

      expect(delta('ws_events_received_total', { event: 'portfolio:subscribe' })).toBe(7);
      expect(delta('ws_events_received_total', { event: 'portfolio:unsubscribe' })).toBe(4);
      expect(delta('ws_events_received_total', { event: 'unknown' })).toBe(100);
      expect(delta('ws_event_errors_total', { event: 'portfolio:subscribe', code: 'forbidden' })).toBe(2);
      expect(delta('ws_event_errors_total', { event: 'unknown', code: 'unknown' })).toBe(100);
      expect(delta('ws_event_errors_total', { event: 'portfolio:unsubscribe', code: 'unknown' })).toBe(3);
      expect(delta('ws_event_duration_seconds_count', { event: 'portfolio:subscribe' })).toBe(7);
      expect(delta('ws_event_duration_seconds_bucket', { event: 'portfolio:subscribe', le: '0.001' })).toBe(
        0,
      );
      expect(delta('ws_event_duration_seconds_bucket', { event: 'portfolio:subscribe', le: '0.0025' })).toBe(
        5,
      );
      expect(delta('ws_event_duration_seconds_bucket', { event: 'portfolio:subscribe', le: '0.005' })).toBe(
        7,
      );
      expect(delta('ws_event_duration_seconds_sum', { event: 'portfolio:subscribe' })).toBeCloseTo(0.018, 9);
      expect(delta('ws_events_sent_total', { event: 'portfolio:update' })).toBe(12);
      expect(delta('ws_events_sent_total', { event: 'trade:executed' })).toBe(3);
      expect(delta('ws_events_sent_total', { event: 'unknown' })).toBe(2);
      expect(delta('subscription_events_total', { action: 'subscribe' })).toBe(6);
      expect(delta('subscription_events_total', { action: 'unsubscribe' })).toBe(2);
      expect(delta('trades_published_total')).toBe(4);
      expect(delta('portfolio_updates_published_total')).toBe(1);
      expect(delta('internal_errors_total', { kind: 'redis_adapter_publish' })).toBe(1);

      // Bounded: one series per known event (plus `unknown`), error codes from the allow-list only.
      const events = new Set([...after.keys()].filter((k) => k.startsWith('ws_events_received_total{')));
      expect(events.size).toBe(WS_EVENT_LABELS.length);
      for (const k of after.keys()) {
        if (k.startsWith('ws_event_errors_total{'))
          expect(k).toMatch(/code="(invalid_payload|forbidden|rate_limited|error|ignored|unknown)"/);
        if (k.startsWith('ws_')) expect(k).not.toMatch(/evil|junk|CODE_|weird/);
      }

      const res = await request(t.url).get('/metrics').expect(200);
      expect(Math.round(res.body.websocket.eventsPerSecond * 60)).toBe(111);
      expect(res.body.websocket.latency).toEqual({ p50: 2, p95: 2, p99: 4 });
      expect(res.body.business.subscriptionEvents - 0).toBeGreaterThanOrEqual(8);
      expect(res.body.business.trades).toBeGreaterThanOrEqual(4);
      const again = await request(t.url).get('/metrics').expect(200);
      m.recordSubscription('subscribe');
      m.recordPublished('trade:executed');
      const third = await request(t.url).get('/metrics').expect(200);
      expect(third.body.business.subscriptionEvents - again.body.business.subscriptionEvents).toBe(1);
      expect(third.body.business.trades - again.body.business.trades).toBe(1);
    });

    it('connection gauges and JSON follow the connection registry', async () => {
      // 42 sockets of 17 users, registered the way the gateway registers a connection.
      const registry = t.app.get(ConnectionRegistry);
      const added = Array.from({ length: 42 }, (_, i) => ({
        userId: `gauge-user-${i % 17}`,
        socketId: `gauge-${i}`,
      }));
      for (const c of added) registry.add(c.userId, c.socketId);
      try {
        const res = await request(t.url).get('/metrics').expect(200);
        expect(res.body.websocket).toMatchObject({ totalConnections: 42, uniqueUsers: 17 });
        expect(res.body.business.activeUsers).toBe(17);
        const prom = await scrape(t.url);
        expect(value(prom, 'ws_connections')).toBe(42);
        expect(value(prom, 'ws_unique_users')).toBe(17);
      } finally {
        for (const c of added) registry.remove(c.userId, c.socketId);
      }
      const after = await request(t.url).get('/metrics').expect(200);
      expect(after.body.websocket).toMatchObject({ totalConnections: 0, uniqueUsers: 0 });
    });

    it('GET /metrics negotiates: JSON for browsers, curl and no Accept; the exposition for a Prometheus scrape', async () => {
      const prom = await request(t.url).get('/metrics').set('Accept', PROMETHEUS_ACCEPT).expect(200);
      expect(prom.headers['content-type']).toBe(t.app.get(METRICS_REGISTRY).contentType);
      expect(prom.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(prom.headers.vary).toMatch(/Accept/);
      expect(prom.text).toContain('# TYPE http_requests_total counter');
      await request(t.url)
        .get('/metrics')
        .set('Accept', 'text/plain')
        .expect('Content-Type', /^text\/plain/);
      for (const accept of [BROWSER_ACCEPT, '*/*', 'application/json', undefined]) {
        const req = request(t.url).get('/metrics');
        if (accept !== undefined) req.set('Accept', accept);
        const res = await req.expect(200);
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        expect(res.body.websocket).toBeDefined();
      }
      const p = await request(t.url).get('/metrics/prometheus').set('Accept', 'application/json').expect(200);
      expect(p.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    });

    it('the exposition has every documented metric and the default Node metrics', async () => {
      const text = (await request(t.url).get('/metrics/prometheus').expect(200)).text;
      for (const [name, type] of [
        ['ws_connections', 'gauge'],
        ['ws_unique_users', 'gauge'],
        ['ws_events_received_total', 'counter'],
        ['ws_events_sent_total', 'counter'],
        ['ws_event_errors_total', 'counter'],
        ['ws_event_duration_seconds', 'histogram'],
        ['http_requests_total', 'counter'],
        ['http_request_duration_seconds', 'histogram'],
        ['subscription_events_total', 'counter'],
        ['trades_published_total', 'counter'],
        ['portfolio_updates_published_total', 'counter'],
        ['internal_errors_total', 'counter'],
        // Registered on this registry by the alerts module (through MetricsService.registry).
        ['alerts_notifications_total', 'counter'],
        ['process_cpu_seconds_total', 'counter'],
        ['process_resident_memory_bytes', 'gauge'],
        ['nodejs_eventloop_lag_p99_seconds', 'gauge'],
        ['nodejs_heap_size_used_bytes', 'gauge'],
        ['nodejs_active_handles_total', 'gauge'],
      ]) {
        expect(text).toContain(`# TYPE ${name} ${type}`);
      }
      expect(text).toContain('# TYPE nodejs_gc_duration_seconds histogram');
      expect(text).toContain('# TYPE app_build_info gauge');
      expect(
        sampleValue(text, 'app_build_info', {
          version: APP_VERSION,
          node_version: process.version,
          service: t.app.get(AppConfig).env.SERVICE_NAME,
        }),
      ).toBe(1);
      expect(text.split('\n').filter((l) => l.startsWith('app_build_info{'))).toHaveLength(1);
      // Without REDIS_URL there is no Redis series at all.
      expect(text).not.toMatch(/^redis_/m);
    });

    it('the exposition passes promtool check metrics', async () => {
      if (!promtoolAvailable()) {
        console.log(
          'SKIPPED: promtool validation (promtool not installed; Debian package "prometheus" provides it)',
        );
        return;
      }
      // Make sure histograms with labels and error counters have series in the output being checked.
      t.realtime.recordWsEvent('portfolio:subscribe', 1, 'invalid_payload');
      await request(t.url).get('/probe/fail').expect(500);
      await settle();
      const text = (await request(t.url).get('/metrics').set('Accept', PROMETHEUS_ACCEPT).expect(200)).text;
      // prom-client's default metrics name three gauges *_total, which promtool's linter flags (exit code 3, a
      // lint finding, not a parse error). Those three are the only findings allowed; without them: clean.
      const known = [
        'nodejs_active_handles_total',
        'nodejs_active_requests_total',
        'nodejs_active_resources_total',
      ];
      const full = await promtool(text);
      expect(full.out.trim().split('\n').sort()).toEqual(
        known.map((n) => `${n} non-counter metrics should not have "_total" suffix`),
      );
      expect(full.code).toBe(3);
      const withoutKnown = text
        .split('\n')
        .filter(
          (l) =>
            !known.some(
              (n) => l.startsWith(n) || l.startsWith(`# HELP ${n} `) || l.startsWith(`# TYPE ${n} `),
            ),
        )
        .join('\n');
      expect(withoutKnown.length).toBeGreaterThan(text.length / 2);
      const clean = await promtool(withoutKnown);
      expect(clean).toEqual({ code: 0, out: '' });
    });

    it('times HTTP requests into the JSON latency percentiles', async () => {
      t.clock.now += 61_000;
      await request(t.url).get('/metrics').expect(200); // 1 fast request
      for (let i = 0; i < 3; i++) await request(t.url).get('/probe/slow?ms=120').expect(200);
      await settle();
      const res = await request(t.url).get('/metrics').expect(200);
      // 4 requests: p50 is a fast one (≤ 2nd value), p95/p99 the slow ones (≥ 120 ms, within 5 % bucket precision).
      expect(res.body.http.latency.p99).toBeGreaterThanOrEqual(120 * 0.95);
      expect(res.body.http.latency.p95).toBeGreaterThanOrEqual(120 * 0.95);
      expect(res.body.http.latency.p99).toBeLessThan(2000);
    });
  });

  describe('slow request warning', () => {
    const logs = new LogCapture();
    let t: MetricsApp;
    beforeAll(async () => {
      logs.start();
      t = await createMetricsApp({ HTTP_SLOW_REQUEST_MS: '60', LOG_LEVEL: 'info' });
    });
    afterAll(async () => {
      await t.close();
      logs.stop();
    });

    it('logs "Slow request detected" at warn above HTTP_SLOW_REQUEST_MS, with the URL redacted, and nothing extra for fast ones', async () => {
      await request(t.url).get('/probe/slow?ms=0&token=leak-me').expect(200);
      await request(t.url).get('/probe/slow?ms=150&token=leak-me').expect(200);
      await logs.waitForLine((l) => l.message === 'Slow request detected');
      const slow = logs.find('Slow request detected');
      expect(slow).toHaveLength(1);
      expect(slow[0]).toMatchObject({
        level: 'warn',
        method: 'GET',
        url: '/probe/slow?ms=150&token=[REDACTED]',
        statusCode: 200,
        duration: expect.stringMatching(/^\d+ms$/),
      });
      expect(parseInt(slow[0].duration as string, 10)).toBeGreaterThanOrEqual(150);
      expect(logs.text).not.toContain('leak-me');
      // At info, pino-http's one line per request is all: no second per-request line from the timing.
      expect(logs.find('Request timed')).toHaveLength(0);
    });
  });

  describe('request timing at debug level (outside production)', () => {
    const logs = new LogCapture();
    let t: MetricsApp;
    beforeAll(async () => {
      logs.start();
      t = await createMetricsApp({ LOG_LEVEL: 'debug' });
    });
    afterAll(async () => {
      await t.close();
      logs.stop();
    });

    it('logs each request once at debug with its route pattern and duration', async () => {
      await request(t.url).get('/probe/items/abc-123').expect(200);
      await logBarrier(t.url, logs); // a second line for it would have been written by now
      const timed = logs.find('Request timed').filter((l) => l.route === '/probe/items/:id');
      expect(timed).toHaveLength(1);
      expect(timed[0]).toMatchObject({
        level: 'debug',
        method: 'GET',
        route: '/probe/items/:id',
        statusCode: 200,
        duration: expect.stringMatching(/^\d+ms$/),
      });
    });
  });

  describe('with METRICS_TOKEN', () => {
    const TOKEN = 'metrics-token-for-tests-0123456789';
    let t: MetricsApp;
    beforeAll(async () => {
      t = await createMetricsApp({ METRICS_TOKEN: TOKEN });
    });
    afterAll(() => t.close());

    it('refuses /metrics, /metrics/prometheus and /dashboard without or with a wrong token: 401 with WWW-Authenticate', async () => {
      for (const path of [
        '/metrics',
        '/metrics/prometheus',
        '/dashboard',
        '/dashboard/static/dashboard.js',
      ]) {
        for (const auth of [
          undefined,
          'Bearer wrong',
          `Basic ${Buffer.from('ops:wrong').toString('base64')}`,
          `Bearer ${TOKEN}x`,
          `Bearer ${TOKEN} junk`,
          `Basic ${Buffer.from(`ops:${TOKEN}`).toString('base64')} junk`,
          // A prefix of the token, and an empty basic-auth password (with or without the token as user name).
          `Bearer ${TOKEN.slice(0, -1)}`,
          `Bearer ${TOKEN.slice(0, 1)}`,
          `Basic ${Buffer.from(`ops:${TOKEN.slice(0, -1)}`).toString('base64')}`,
          `Basic ${Buffer.from('ops:').toString('base64')}`,
          `Basic ${Buffer.from(`${TOKEN}:`).toString('base64')}`,
        ]) {
          const req = request(t.url).get(path);
          if (auth !== undefined) req.set('Authorization', auth);
          const res = await req.expect(401);
          expect(res.headers['www-authenticate']).toMatch(/^Basic realm="metrics"/);
          expect(res.text).not.toContain(TOKEN);
        }
      }
    });

    it('accepts the token as a Bearer token or as the basic-auth password; /health stays public', async () => {
      await request(t.url).get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(200);
      await request(t.url).get('/metrics/prometheus').set('Authorization', `Bearer ${TOKEN}`).expect(200);
      const basic = `Basic ${Buffer.from(`anyone:${TOKEN}`).toString('base64')}`;
      await request(t.url).get('/metrics').set('Authorization', basic).expect(200);
      const page = await request(t.url).get('/dashboard').set('Authorization', basic).expect(200);
      expect(page.text).toContain('<canvas');
      await request(t.url).get('/health').expect(200);
    });
  });

  describe('without METRICS_TOKEN', () => {
    let t: MetricsApp;
    beforeAll(async () => {
      t = await createMetricsApp();
    });
    afterAll(() => t.close());

    it('is open', async () => {
      await request(t.url).get('/metrics').expect(200);
      await request(t.url).get('/metrics/prometheus').expect(200);
      await request(t.url).get('/dashboard').expect(200);
    });

    it('serves the dashboard and Chart.js from the app itself, and nothing outside its asset table', async () => {
      const page = await request(t.url).get('/dashboard').expect(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
      expect(page.text).not.toMatch(/(src|href)="(https?:)?\/\//);
      const chart = await request(t.url).get('/dashboard/static/chart.umd.min.js').expect(200);
      expect(chart.headers['content-type']).toMatch(/^text\/javascript/);
      expect(chart.text).toContain('Chart.js');
      await request(t.url)
        .get('/dashboard/static/dashboard.js')
        .expect(200)
        .expect('Content-Type', /javascript/);
      await request(t.url)
        .get('/dashboard/static/dashboard.css')
        .expect(200)
        .expect('Content-Type', /^text\/css/);
      for (const path of [
        '/dashboard/static/..%2F..%2F..%2Fpackage.json',
        '/dashboard/static/..%2Fmetrics.service.ts',
        '/dashboard/static/%2e%2e%2f%2e%2e%2fpackage.json',
        '/dashboard/static/../../package.json',
        '/dashboard/static/index.html',
        '/dashboard/static/constructor',
        '/dashboard/static/__proto__',
        '/dashboard/static/',
      ]) {
        const res = await request(t.url).get(path);
        expect([404]).toContain(res.status);
        expect(res.text).not.toContain('"dependencies"');
      }
    });
  });

  describe('with Redis', () => {
    const redis = new RedisTestServer();
    let t: MetricsApp;
    beforeAll(async () => {
      await redis.start();
      t = await createMetricsApp({ REDIS_URL: redis.url, HEALTH_CHECK_TIMEOUT_MS: '300' });
    });
    afterAll(async () => {
      await t.close();
      await redis.stop();
    });

    async function waitForRedisUp(): Promise<void> {
      const deadline = Date.now() + 5000;
      for (;;) {
        await t.redis.sample();
        if ((await request(t.url).get('/metrics').expect(200)).body.redis?.up === true) return;
        if (Date.now() > deadline) throw new Error('Redis never sampled as up');
        await sleep(100);
      }
    }

    it('reports redis_up, redis_latency_seconds and the JSON redis block', async () => {
      await waitForRedisUp();
      const res = await request(t.url).get('/metrics').expect(200);
      expect(res.body.redis).toEqual({
        up: true,
        memoryUsed: expect.stringMatching(/^[\d.]+[BKMG]$/),
        connections: expect.any(Number),
        opsPerSec: expect.any(Number),
        latency: expect.any(Number),
        sampledAt: expect.any(String),
      });
      expect(res.body.redis.connections).toBeGreaterThanOrEqual(1);
      expect(res.body.redis.latency).toBeGreaterThanOrEqual(0);
      const prom = await scrape(t.url);
      expect(value(prom, 'redis_up')).toBe(1);
      expect(prom.get('redis_latency_seconds')).toBeGreaterThanOrEqual(0);
      expect(prom.get('redis_latency_seconds')).toBeLessThan(0.3);
    });

    it('a frozen Redis never slows /metrics; it reads down within the timeout and up again after', async () => {
      await waitForRedisUp();
      redis.freeze();
      try {
        const started = Date.now();
        let sampled = false;
        const sampling = t.redis.sample().then(() => (sampled = true));
        // Both endpoints answer while the check is still waiting on the frozen Redis: they never wait for it.
        const json = await request(t.url).get('/metrics').expect(200);
        await request(t.url).get('/metrics/prometheus').expect(200);
        expect(sampled).toBe(false);
        expect(json.body.redis.up).toBe(true);
        await sampling;
        expect(Date.now() - started).toBeLessThan(2000);
        const down = await request(t.url).get('/metrics').expect(200);
        expect(down.body.redis).toMatchObject({
          up: false,
          latency: -1,
          error: 'Redis did not answer within 300ms',
        });
        expect(value(await scrape(t.url), 'redis_up')).toBe(0);
      } finally {
        redis.thaw();
      }
      await waitForRedisUp();
      expect(value(await scrape(t.url), 'redis_up')).toBe(1);
    });

    it('a dead Redis reads down at once', async () => {
      await redis.kill();
      try {
        const deadline = Date.now() + 5000;
        let body: any;
        do {
          await t.redis.sample();
          body = (await request(t.url).get('/metrics').expect(200)).body;
        } while (body.redis.up && Date.now() < deadline);
        expect(body.redis).toMatchObject({ up: false, connections: 0, opsPerSec: 0, latency: -1 });
        expect(value(await scrape(t.url), 'redis_up')).toBe(0);
      } finally {
        await redis.start(redis.port);
      }
      await waitForRedisUp();
    });
  });
});
