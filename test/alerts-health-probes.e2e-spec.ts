import request from 'supertest';
import { AlertScheduler } from '../src/alerts/alert-scheduler';
import { TrafficMonitor } from '../src/alerts/monitors/traffic.monitor';
import { ALERT_KEYS } from '../src/alerts/alert-keys';
import { scrape, seriesValue } from './utils/metrics-helpers';
import { freePort } from './utils/ports';
import { waitFor } from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

/**
 * The false page this guards against: during a Redis outage a replica with little traffic fired
 * http.error_rate critical, made only of /health/ready answering 503 to the platform's probes.
 */
describe('Alerts: health probes during a Redis outage (e2e)', () => {
  const PROBES = 40;
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({
      // Nothing listens on this port: Redis is configured and down for the whole test.
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      HEALTH_CHECK_TIMEOUT_MS: '200',
      LOG_LEVEL: 'error', // Redis down is the point here: its warnings are expected
      // Timers never fire on their own: the traffic check is run by hand below.
      ALERT_REDIS_INTERVAL_MS: '86400000',
      ALERT_MEMORY_INTERVAL_MS: '86400000',
      ALERT_EVAL_INTERVAL_MS: '86400000',
    });
  });
  afterAll(() => t.close());

  it('/health/ready answering 503 again and again moves neither the JSON error rate nor the http.error_rate alert', async () => {
    for (let i = 0; i < PROBES; i++) await request(t.url).get('/health/ready').expect(503);
    // The users' traffic on this quiet replica: a single successful request.
    await request(t.url).get('/alerts').expect(200);

    // Prometheus still sees every probe, under its own route (the request is recorded when its response closes).
    const ready = { method: 'GET', route: '/health/ready', status_code: '503' };
    await waitFor(
      async () => seriesValue(await scrape(t.url), 'http_requests_total', ready) === PROBES,
      2000,
    );

    const figures = await request(t.url).get('/metrics').expect(200);
    expect(figures.body.http.errorRate).toBe(0);

    // Two evaluations are what it takes to fire; neither finds a breach.
    for (let i = 0; i < 2; i++) {
      expect(await t.app.get(AlertScheduler).run(t.app.get(TrafficMonitor))).toBe(true);
    }
    const alerts = await request(t.url).get('/alerts').expect(200);
    const keys = (list: { key: string }[]) => list.map((a) => a.key);
    expect(keys(alerts.body.active)).not.toContain(ALERT_KEYS.httpErrorRate);
    expect(keys(alerts.body.recent)).not.toContain(ALERT_KEYS.httpErrorRate);
  });
});
