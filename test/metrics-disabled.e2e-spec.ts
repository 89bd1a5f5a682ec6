import request from 'supertest';
import { MetricsService } from '../src/metrics/metrics.service';
import { connectClient, emitAck, subscribed } from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

/** METRICS_ENABLED=false: the server works the same, records nothing, and says so on the metrics endpoints. */
describe('Metrics disabled (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ METRICS_ENABLED: 'false', PUBLISH_TOKEN: 'publish-token-0123' });
  });
  afterAll(() => t.close());

  it('serves sockets, publishes and health as usual, records nothing, and answers 503 on /metrics*', async () => {
    const socket = await connectClient(t.url, 'alice', ['p1']);
    try {
      await expect(emitAck(socket, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(
        subscribed('p1'),
      );
      await request(t.url)
        .post('/events')
        .set('authorization', 'Bearer publish-token-0123')
        .send({ event: 'portfolio:update', portfolioId: 'p1', data: { v: 1 } })
        .expect(202);
      await request(t.url).get('/health').expect(200);
    } finally {
      socket.disconnect();
    }
    const figures = t.app.get(MetricsService).currentSnapshot();
    expect(figures.websocket.eventsPerSecond).toBe(0);
    expect(figures.http.requestsPerSecond).toBe(0);
    expect(figures.business.subscriptionEvents).toBe(0);
    for (const path of ['/metrics', '/metrics/prometheus']) {
      const res = await request(t.url).get(path).expect(503);
      expect(res.body).toEqual({ error: 'Metrics are disabled (METRICS_ENABLED=false)' });
    }
    expect(await t.app.get(MetricsService).registry.metrics()).not.toContain('process_cpu_seconds_total');
  });
});
