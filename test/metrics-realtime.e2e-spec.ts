import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { createMetricsApp, MetricsApp, scrape, seriesValue as value } from './utils/metrics-helpers';
import { connectClient, emitAck, subscribed } from './utils/socket-client';

const PUBLISH_TOKEN = 'publish-token-for-metrics-tests-0123';

/**
 * Real Socket.IO traffic through the real gateway: the WebSocket counters, histogram, gauges and JSON figures
 * move by exactly what the clients did.
 */
describe('Metrics from real WebSocket traffic (e2e)', () => {
  let t: MetricsApp;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    t = await createMetricsApp({ PUBLISH_TOKEN, WS_RATE_LIMIT: '1000', WS_RATE_BURST: '1000' });
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await t.close();
  });

  async function waitFor(check: () => Promise<boolean>, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('connections, events, errors, subscriptions and deliveries are counted exactly', async () => {
    t.clock.now += 61_000; // a fresh 60 s window
    const before = await scrape(t.url);
    const beforeJson = (await request(t.url).get('/metrics').expect(200)).body;

    const a1 = await connectClient(t.url, 'alice', ['p1']);
    const a2 = await connectClient(t.url, 'alice', ['p1']);
    const b1 = await connectClient(t.url, 'bob', ['p1', 'p2']);
    sockets.push(a1, a2, b1);

    let prom = await scrape(t.url);
    expect(value(prom, 'ws_connections')).toBe(3);
    expect(value(prom, 'ws_unique_users')).toBe(2);

    // 3 ok, 1 forbidden, 2 invalid subscribes; 1 unsubscribe; 4 unknown events (no ack: ignored).
    for (const s of [a1, a2, b1])
      expect(await emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' })).toEqual(subscribed('p1'));
    expect((await emitAck(a1, 'portfolio:subscribe', { portfolioId: 'p2' })).error.code).toBe('FORBIDDEN');
    expect((await emitAck(a1, 'portfolio:subscribe', { portfolioId: '../etc' })).error.code).toBe(
      'INVALID_PAYLOAD',
    );
    expect((await emitAck(b1, 'portfolio:subscribe', 'not an object')).error.code).toBe('INVALID_PAYLOAD');
    for (let i = 0; i < 4; i++) b1.emit(`made-up-${i}-${Math.random()}`, { x: i });
    // Events of one socket are handled in order: once this ack is back, the unknown ones were handled too.
    expect(await emitAck(b1, 'portfolio:unsubscribe', { portfolioId: 'p1' })).toEqual({
      ok: true,
      portfolioId: 'p1',
    });

    // One trade to p1 reaches a1 and a2 (b1 left); one update to p2 reaches nobody.
    const received = new Promise<void>((resolve) => {
      let n = 0;
      for (const s of [a1, a2]) s.once('trade:executed', () => ++n === 2 && resolve());
    });
    const trade = await request(t.url)
      .post('/events')
      .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
      .send({ event: 'trade:executed', portfolioId: 'p1', data: { price: 1 } })
      .expect(202);
    expect(trade.body.delivered).toBe(2);
    await received;
    await request(t.url)
      .post('/events')
      .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
      .send({ event: 'portfolio:update', portfolioId: 'p2', data: { v: 1 } })
      .expect(202);

    prom = await scrape(t.url);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      value(prom, name, labels) - value(before, name, labels);
    expect(delta('ws_events_received_total', { event: 'portfolio:subscribe' })).toBe(6);
    expect(delta('ws_events_received_total', { event: 'portfolio:unsubscribe' })).toBe(1);
    expect(delta('ws_events_received_total', { event: 'unknown' })).toBe(4);
    expect(delta('ws_event_errors_total', { event: 'portfolio:subscribe', code: 'forbidden' })).toBe(1);
    expect(delta('ws_event_errors_total', { event: 'portfolio:subscribe', code: 'invalid_payload' })).toBe(2);
    expect(delta('ws_event_errors_total', { event: 'unknown', code: 'ignored' })).toBe(4);
    expect(delta('ws_event_duration_seconds_count', { event: 'portfolio:subscribe' })).toBe(6);
    expect(delta('ws_event_duration_seconds_bucket', { event: 'portfolio:subscribe', le: '+Inf' })).toBe(6);
    expect(delta('ws_event_duration_seconds_count', { event: 'unknown' })).toBe(4);
    expect(delta('subscription_events_total', { action: 'subscribe' })).toBe(3);
    expect(delta('subscription_events_total', { action: 'unsubscribe' })).toBe(1);
    expect(delta('ws_events_sent_total', { event: 'trade:executed' })).toBe(2);
    expect(delta('ws_events_sent_total', { event: 'portfolio:update' })).toBe(0);
    expect(delta('trades_published_total')).toBe(1);
    expect(delta('portfolio_updates_published_total')).toBe(1);
    // Each publication is timed once from POST /events to its hand-over to the sockets (even with nobody there),
    // and given one position in its stream; a single instance has no pub/sub lag to record.
    expect(delta('ws_publish_to_emit_seconds_count', { event: 'trade:executed' })).toBe(1);
    expect(delta('ws_publish_to_emit_seconds_count', { event: 'portfolio:update' })).toBe(1);
    expect(delta('stream_publications_total', { kind: 'portfolio' })).toBe(2);
    expect(delta('ws_pubsub_lag_seconds_count')).toBe(0);
    // No made-up event name became a label.
    expect([...prom.keys()].some((k) => k.includes('made-up'))).toBe(false);

    const json = (await request(t.url).get('/metrics').expect(200)).body;
    expect(json.websocket).toMatchObject({ totalConnections: 3, uniqueUsers: 2, redisEnabled: false });
    expect(Math.round(json.websocket.eventsPerSecond * 60)).toBe(11);
    expect(json.websocket.latency.p99).toBeGreaterThanOrEqual(json.websocket.latency.p50);
    expect(json.websocket.latency.p50).toBeGreaterThan(0);
    expect(json.business.activeUsers).toBe(2);
    expect(json.business.subscriptionEvents - beforeJson.business.subscriptionEvents).toBe(4);
    expect(json.business.trades - beforeJson.business.trades).toBe(1);

    // Disconnects bring the gauges back to zero.
    for (const s of sockets.splice(0)) s.disconnect();
    await waitFor(async () => value(await scrape(t.url), 'ws_connections') === 0);
    expect(value(await scrape(t.url), 'ws_unique_users')).toBe(0);
    const after = (await request(t.url).get('/metrics').expect(200)).body;
    expect(after.websocket).toMatchObject({ totalConnections: 0, uniqueUsers: 0 });
  });
});
