import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { NonReadingClient } from './utils/non-reading-client';
import { exposition, sampleValue } from './utils/server-checks';
import { closeAll, collect, connectClient, emitAck, waitFor } from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

const PUBLISH_TOKEN = 'delivery-metrics-publish-token-0123456789';
const MB = 1024 * 1024;
const BLOB = 'x'.repeat(60_000);
/** High enough that the non-reader is not cut while the test watches its backlog grow. */
const MAX_PENDING = 16 * MB;
const SAMPLE_MS = 100;

/** Traffic counters and the sampled output backlog, against the real app over real sockets. */
describe('WebSocket traffic and output backlog (e2e)', () => {
  let t: TestApp;
  const sockets: Socket[] = [];
  let slow: NonReadingClient | null = null;

  const publish = async (portfolioId: string, data: object) => {
    const res = await request(t.url)
      .post('/events')
      .set('Authorization', `Bearer ${PUBLISH_TOKEN}`)
      .send({ event: 'portfolio:update', portfolioId, data })
      .timeout(10_000);
    expect(res.status).toBe(202);
  };
  const traffic = async () => {
    const text = await exposition(t.url);
    const v = (name: string) => sampleValue(text, name) ?? Number.NaN;
    return {
      bytesSent: v('ws_bytes_sent_total'),
      bytesReceived: v('ws_bytes_received_total'),
      messagesSent: v('ws_messages_sent_total'),
      messagesReceived: v('ws_messages_received_total'),
    };
  };

  beforeAll(async () => {
    t = await createTestApp({
      PUBLISH_TOKEN,
      WS_TRANSPORTS: 'websocket',
      WS_MAX_PENDING_BYTES: String(MAX_PENDING),
      WS_BACKLOG_SAMPLE_MS: String(SAMPLE_MS),
    });
  });
  afterEach(() => closeAll(sockets));
  afterAll(async () => {
    slow?.terminate();
    await t.close();
  });

  it('counts the messages and bytes each way: an acked request is one in and one out, each event one out', async () => {
    const reader = await connectClient(t.url, 'reader', ['p-traffic']);
    sockets.push(reader);
    const before = await traffic();
    await emitAck(reader, 'portfolio:subscribe', { portfolioId: 'p-traffic' });
    const afterAck = await traffic();
    expect(afterAck.messagesReceived - before.messagesReceived).toBe(1);
    expect(afterAck.messagesSent - before.messagesSent).toBe(1);
    // The request carries the event name and the portfolio id at least.
    expect(afterAck.bytesReceived - before.bytesReceived).toBeGreaterThan(
      '"portfolio:subscribe",{"portfolioId":"p-traffic"}'.length,
    );

    const got = collect(reader, 'portfolio:update');
    const payload = 'y'.repeat(5000);
    for (let i = 0; i < 3; i++) await publish('p-traffic', { i, payload });
    await waitFor(() => got.items.length === 3, 5000);
    const after = await traffic();
    expect(after.messagesSent - afterAck.messagesSent).toBe(3);
    expect(after.bytesSent - afterAck.bytesSent).toBeGreaterThan(3 * payload.length);
    expect(after.bytesSent - afterAck.bytesSent).toBeLessThan(3 * (payload.length + 500));
    expect(after.messagesReceived).toBe(afterAck.messagesReceived);
  });

  it('shows a non-reader’s unsent output growing in the sampled backlog, then gone once it closes', async () => {
    const reader = await connectClient(t.url, 'healthy', ['p-slow']);
    sockets.push(reader);
    await emitAck(reader, 'portfolio:subscribe', { portfolioId: 'p-slow' });
    slow = await NonReadingClient.subscribe(t.url, 'stuck', 'p-slow', { pongEveryMs: 1000, maxPongs: 60 });
    const backlogMax = async () => sampleValue(await exposition(t.url), 'ws_output_backlog_max_bytes') ?? 0;

    // The kernel's socket buffers take the first few MB; after that the server holds the rest.
    let published = 0;
    while ((await backlogMax()) < 1 * MB) {
      expect(published).toBeLessThan(600);
      await publish('p-slow', { n: published++, blob: BLOB });
    }
    // Let one more sample run, so both the gauges and the histogram have seen the backlog.
    const body = async () => (await request(t.url).get('/metrics').expect(200)).body;
    await waitFor(async () => (await body()).delivery.outputBacklog.maxBytes >= 1 * MB, 5 * SAMPLE_MS + 2000);
    const text = await exposition(t.url);
    expect(sampleValue(text, 'ws_output_backlog_total_bytes')).toBeGreaterThanOrEqual(1 * MB);
    // At least one socket-sample above 1 MiB (the non-reader), and the reader's samples low.
    const count = sampleValue(text, 'ws_output_backlog_bytes_count') ?? 0;
    const under1MB = sampleValue(text, 'ws_output_backlog_bytes_bucket', { le: '1048576' }) ?? 0;
    const under64KB = sampleValue(text, 'ws_output_backlog_bytes_bucket', { le: '65536' }) ?? 0;
    expect(count - under1MB).toBeGreaterThan(0);
    expect(under64KB).toBeGreaterThan(0);
    const json = (await body()).delivery.outputBacklog;
    expect(json.sockets).toBe(2);
    expect(json.totalBytes).toBeGreaterThanOrEqual(json.maxBytes);

    slow.terminate();
    await waitFor(async () => {
      const b = (await body()).delivery.outputBacklog;
      return b.sockets === 1 && b.totalBytes < 64 * 1024;
    }, 5000);
  }, 60_000);
});
