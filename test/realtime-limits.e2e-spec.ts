import type { Socket } from 'socket.io-client';
import { ErrorReporter } from '../src/error-tracking/error-reporter';
import { ShutdownState } from '../src/lifecycle/shutdown-state';
import { RealtimeMetrics } from '../src/realtime/realtime.metrics';
import { ConnectionCounts } from '../src/realtime/connection-counts';
import { LogCapture } from './utils/log-capture';
import { exposition, sampleValue } from './utils/server-checks';
import {
  closeAll,
  connect,
  connectClient,
  connectError,
  createClient,
  disconnected,
  emitAck,
  makeToken,
  waitFor,
  subscribed,
} from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin: a handler that hogs the event loop
  }
}

describe('Realtime gateway limits and failures (e2e)', () => {
  let t: TestApp;
  const logs = new LogCapture();
  const sockets: Socket[] = [];
  const client = async (userId: string, portfolios?: string[]) => {
    const s = await connectClient(t.url, userId, portfolios);
    sockets.push(s);
    return s;
  };

  beforeAll(async () => {
    logs.start();
    t = await createTestApp({
      WS_SLOW_EVENT_MS: '20',
      WS_MAX_PAYLOAD_BYTES: '2048',
      WS_MAX_CONNECTIONS_PER_USER: '2',
      WS_RATE_LIMIT: '20',
      WS_RATE_BURST: '40',
    });
  });
  afterEach(() => {
    jest.restoreAllMocks();
    closeAll(sockets);
  });
  afterAll(async () => {
    await t.close();
    logs.stop();
  });

  it('times every event into the metrics module and warns about slow ones', async () => {
    const metrics = t.app.get(RealtimeMetrics);
    const recorded = jest.spyOn(metrics, 'recordWsEvent');
    const s = await client('slowpoke', ['p1']);
    await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(subscribed('p1'));
    expect(recorded).toHaveBeenLastCalledWith('portfolio:subscribe', expect.any(Number), 'ok');
    expect(logs.find('Slow WebSocket event')).toHaveLength(0);

    jest.spyOn(metrics, 'recordSubscription').mockImplementation(() => busyWait(60));
    await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(subscribed('p1'));
    const [slow] = logs.find('Slow WebSocket event');
    expect(slow).toMatchObject({
      level: 'warn',
      event: 'portfolio:subscribe',
      userId: 'slowpoke',
      duration: expect.stringMatching(/^\d+ms$/),
    });
    expect(parseInt(slow.duration as string, 10)).toBeGreaterThanOrEqual(60);
    const [, duration] = recorded.mock.calls[recorded.mock.calls.length - 1];
    expect(duration).toBeGreaterThanOrEqual(60);

    await emitAck(s, 'portfolio:subscribe', { portfolioId: 'nope' });
    expect(recorded).toHaveBeenLastCalledWith('portfolio:subscribe', expect.any(Number), 'forbidden');
    s.emit('no-such-event');
    await emitAck(s, 'portfolio:unsubscribe', { portfolioId: 'p1' });
    expect(recorded.mock.calls.map((c) => c[0])).toContain('unknown');
    expect(recorded.mock.calls.map((c) => c[0])).not.toContain('no-such-event');
  });

  it('answers INTERNAL when a handler throws, logs the stack once, reports it, and the socket survives', async () => {
    const metrics = t.app.get(RealtimeMetrics);
    const reporter = jest.spyOn(t.app.get(ErrorReporter), 'report');
    const recorded = jest.spyOn(metrics, 'recordWsEvent');
    jest.spyOn(metrics, 'recordSubscription').mockImplementationOnce(() => {
      throw new Error('boom in handler');
    });
    const s = await client('unlucky', ['p1']);
    const before = logs.find('WebSocket event error').length;
    const res = await emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' });
    expect(res).toEqual({ ok: false, error: { code: 'INTERNAL', message: 'Internal error' } });
    const errors = logs.find('WebSocket event error').slice(before);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      level: 'error',
      error: 'boom in handler',
      event: 'portfolio:subscribe',
      userId: 'unlucky',
    });
    expect(errors[0].stack).toContain('boom in handler');
    expect(reporter).toHaveBeenCalledTimes(1);
    expect(reporter).toHaveBeenCalledWith(expect.objectContaining({ message: 'boom in handler' }), {
      kind: 'ws',
      event: 'portfolio:subscribe',
      userId: 'unlucky',
      socketId: expect.any(String),
    });
    expect(recorded).toHaveBeenLastCalledWith('portfolio:subscribe', expect.any(Number), 'error');
    expect(s.connected).toBe(true);
    await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(subscribed('p1'));
    // Expected refusals are not errors.
    await emitAck(s, 'portfolio:subscribe', { portfolioId: 42 });
    expect(reporter).toHaveBeenCalledTimes(1);
  });

  it('a message over WS_MAX_PAYLOAD_BYTES closes only that socket', async () => {
    const big = await client('big', ['p1']);
    const other = await client('other', ['p1']);
    const gone = disconnected(big);
    big.emit('portfolio:subscribe', { portfolioId: 'x'.repeat(4096) });
    await expect(gone).resolves.toBe('transport close');
    expect(other.connected).toBe(true);
    await expect(emitAck(other, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(
      subscribed('p1'),
    );
  });

  it('rate limits a flooding socket (RATE_LIMITED) while another client’s acks stay prompt', async () => {
    const flooder = await client('flooder', ['p1']);
    const calm = await client('calm', ['p1']);
    const floods = Array.from({ length: 120 }, () =>
      emitAck(flooder, 'portfolio:subscribe', { portfolioId: 'p1' }),
    );
    const calmTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await expect(emitAck(calm, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(
        subscribed('p1'),
      );
      calmTimes.push(performance.now() - started);
    }
    const results = await Promise.all(floods);
    const ok = results.filter((r) => r.ok === true).length;
    const limited = results.filter((r) => r.ok === false);
    expect(ok).toBeGreaterThanOrEqual(40);
    expect(ok).toBeLessThan(60);
    expect(limited.length).toBe(120 - ok);
    for (const r of limited) expect(r).toEqual({ ok: false, error: { code: 'RATE_LIMITED' } });
    // Generous bound: the point is that the flood does not queue the calm client behind it.
    expect(Math.max(...calmTimes)).toBeLessThan(1000);
    expect(flooder.connected).toBe(true);
  });

  it('disconnects a socket that keeps flooding for 10 s', async () => {
    const flooder = await client('persistent', ['p1']);
    const calm = await client('bystander', ['p1']);
    const gone = disconnected(flooder, 15_000);
    const started = Date.now();
    const timer = setInterval(() => flooder.emit('portfolio:subscribe', { portfolioId: 'p1' }), 10);
    try {
      await expect(gone).resolves.toBe('io server disconnect');
    } finally {
      clearInterval(timer);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(9_500);
    expect(logs.find('WebSocket client disconnected for flooding')).toEqual([
      expect.objectContaining({ level: 'warn', userId: 'persistent' }),
    ]);
    expect(calm.connected).toBe(true);
    await expect(emitAck(calm, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(
      subscribed('p1'),
    );
  }, 20_000);

  it('refuses a connection over WS_MAX_CONNECTIONS_PER_USER with too_many_connections', async () => {
    const first = await client('capped');
    await client('capped');
    await expect(connectError(t.url, makeToken('capped'))).resolves.toBe('too_many_connections');
    await client('someone-else');
    const counts = t.app.get(ConnectionCounts);
    const open = counts.totalConnections;
    first.disconnect();
    // The server frees the slot when it sees the disconnect, not when the client sends it.
    await waitFor(() => counts.totalConnections === open - 1, 3000);
    await client('capped');
  });
});

/** ws_connections_refused_total for one reason, from the app's own exposition. */
async function refused(url: string, reason: string): Promise<number> {
  const value = sampleValue(await exposition(url), 'ws_connections_refused_total', { reason });
  expect(value).toBeDefined();
  return value ?? NaN;
}

describe('Realtime gateway origins, draining and start-up warnings (e2e)', () => {
  const origins = { good: 'https://app.example.com', evil: 'https://evil.example' };

  describe('CORS_ORIGINS set', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp({ CORS_ORIGINS: `${origins.good}, https://other.example.com` });
    });
    afterAll(() => t.close());

    it.each(['websocket', 'polling'])(
      'refuses a foreign Origin over %s and accepts a listed one',
      async (transport) => {
        const opts = (origin: string) => ({ transports: [transport], extraHeaders: { Origin: origin } });
        const before = await refused(t.url, 'origin');
        const evil = createClient(t.url, makeToken('o1'), opts(origins.evil));
        await expect(connect(evil)).rejects.toThrow();
        evil.disconnect();
        expect(await refused(t.url, 'origin')).toBe(before + 1);
        const good = await connect(createClient(t.url, makeToken('o1'), opts(origins.good)));
        expect(good.connected).toBe(true);
        good.disconnect();
      },
    );

    it('accepts clients that send no Origin (native apps)', async () => {
      const s = await connectClient(t.url, 'native');
      expect(s.connected).toBe(true);
      s.disconnect();
    });

    it('refuses new connections with server_shutting_down while draining', async () => {
      const existing = await connectClient(t.url, 'early');
      const before = await refused(t.url, 'shutting_down');
      t.app.get(ShutdownState).beginDrain();
      await expect(connectError(t.url, makeToken('late'))).resolves.toBe('server_shutting_down');
      expect(await refused(t.url, 'shutting_down')).toBe(before + 1);
      expect(existing.connected).toBe(true);
      existing.disconnect();
    });
  });

  describe('production without CORS_ORIGINS', () => {
    const logs = new LogCapture();
    let t: TestApp;
    beforeAll(async () => {
      logs.start();
      t = await createTestApp({ NODE_ENV: 'production', LOG_LEVEL: 'warn' });
    });
    afterAll(async () => {
      await t.close();
      logs.stop();
    });

    it('accepts only clients without an Origin header, and warns at start-up', async () => {
      const browser = createClient(t.url, makeToken('b'), { extraHeaders: { Origin: origins.good } });
      await expect(connect(browser)).rejects.toThrow();
      browser.disconnect();
      const native = await connectClient(t.url, 'n');
      expect(native.connected).toBe(true);
      native.disconnect();
      expect(
        logs.lines.filter((l) => String(l.message).startsWith('CORS_ORIGINS is not set in production')),
      ).toHaveLength(1);
    });
  });

  describe('without JWT_SECRET outside production', () => {
    const logs = new LogCapture();
    let t: TestApp;
    beforeAll(async () => {
      logs.start();
      t = await createTestApp({ JWT_SECRET: undefined });
    });
    afterAll(async () => {
      await t.close();
      logs.stop();
    });

    it('warns at start-up and accepts tokens signed with the development secret', async () => {
      expect(logs.lines.filter((l) => String(l.message).startsWith('JWT_SECRET is not set'))).toHaveLength(1);
      const s = await connect(createClient(t.url, makeToken('dev', [], {}, t.config.jwtSecret)));
      expect(s.connected).toBe(true);
      s.disconnect();
      await expect(connectError(t.url, makeToken('dev'))).resolves.toBe('unauthorized');
    });
  });
});
