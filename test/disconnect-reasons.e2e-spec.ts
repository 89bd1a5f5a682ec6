import type { Registry } from 'prom-client';
import type { Socket } from 'socket.io-client';
import { METRICS_REGISTRY } from '../src/metrics/metrics.registry';
import { DISCONNECT_REASONS } from '../src/realtime/realtime.events';
import { RawEngineClient } from './utils/raw-engine-client';
import { exposition, sampleValue } from './utils/server-checks';
import {
  closeAll,
  connect,
  connectClient,
  createClient,
  disconnected,
  makeToken,
  waitFor,
} from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

const METRIC = 'ws_disconnects_total';
const REASONS = Object.values(DISCONNECT_REASONS);
const MAX_PAYLOAD = 2048;

function counts(text: string): Record<string, number> {
  return Object.fromEntries(REASONS.map((r) => [r, sampleValue(text, METRIC, { reason: r }) ?? NaN]));
}

/**
 * Every disconnect below is caused for real, against the app's own /metrics/prometheus: the caused reason
 * must rise by exactly one and every other reason stay where it was (one count, one reason, per disconnect).
 */
describe('ws_disconnects_total: why clients leave (e2e)', () => {
  let t: TestApp;
  const sockets: Socket[] = [];
  const raws: RawEngineClient[] = [];

  async function expectCounted(reason: string, cause: () => Promise<void>, timeoutMs = 5000) {
    const before = counts(await exposition(t.url));
    for (const r of REASONS) expect(before[r]).not.toBeNaN();
    await cause();
    let after = before;
    await waitFor(async () => {
      after = counts(await exposition(t.url));
      return after[reason] === before[reason] + 1;
    }, timeoutMs);
    expect(after).toEqual({ ...before, [reason]: before[reason] + 1 });
  }

  async function rawConnected(userId: string, answerPings = true): Promise<RawEngineClient> {
    const raw = await RawEngineClient.open(t.url, { answerPings });
    raws.push(raw);
    await raw.connectAs(makeToken(userId));
    return raw;
  }

  beforeAll(async () => {
    t = await createTestApp({
      WS_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD),
      WS_PING_INTERVAL_MS: '1000',
      WS_PING_TIMEOUT_MS: '1000',
      WS_RATE_LIMIT: '20',
      WS_RATE_BURST: '40',
    });
  });
  afterEach(() => {
    closeAll(sockets);
    for (const raw of raws.splice(0)) raw.ws.terminate();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('pre-creates every reason at zero', async () => {
    const text = await exposition(t.url);
    for (const reason of REASONS) expect(sampleValue(text, METRIC, { reason })).toBe(0);
  });

  it('client_close: the client calls disconnect()', async () => {
    const s = await connectClient(t.url, 'leaver');
    await expectCounted('client_close', async () => {
      s.disconnect();
    });
  });

  it('transport_close: the TCP connection is destroyed without a goodbye', async () => {
    const raw = await rawConnected('vanisher');
    await expectCounted('transport_close', async () => {
      raw.ws.terminate();
    });
  });

  it('ping_timeout: the client stops answering pings', async () => {
    await rawConnected('silent', false);
    await expectCounted('ping_timeout', async () => undefined, 6000);
  });

  it('oversize_message: a message over WS_MAX_PAYLOAD_BYTES', async () => {
    const raw = await rawConnected('bulky');
    await expectCounted('oversize_message', async () => {
      raw.send(`42["portfolio:subscribe",{"portfolioId":"${'x'.repeat(MAX_PAYLOAD)}"}]`);
    });
  });

  it('parse_error: an engine.io packet that cannot be decoded', async () => {
    const raw = await rawConnected('garbler');
    await expectCounted('parse_error', async () => {
      raw.send('9garbage');
    });
  });

  it('token_expired: the access token expires while connected', async () => {
    await expectCounted(
      'token_expired',
      async () => {
        // exp is whole seconds: this token expires one to two seconds from now.
        const s = await connect(createClient(t.url, makeToken('expiring', [], { expiresIn: 2 })));
        sockets.push(s);
      },
      6000,
    );
  });

  it('flooding: the client stays over its rate limit', async () => {
    const flooder = await connectClient(t.url, 'flooder', ['p1']);
    sockets.push(flooder);
    const gone = disconnected(flooder, 15_000);
    const timer = setInterval(() => flooder.emit('portfolio:subscribe', { portfolioId: 'p1' }), 10);
    try {
      await expectCounted('flooding', () => gone.then(() => undefined), 15_000);
    } finally {
      clearInterval(timer);
    }
  }, 20_000);

  it('server_shutdown: the app closes with a client connected', async () => {
    // A closed app serves no scrape: read the registry /metrics/prometheus renders, after app.close().
    const app = await createTestApp();
    try {
      const registry = app.app.get<Registry>(METRICS_REGISTRY);
      const s = await connectClient(app.url, 'stayer');
      sockets.push(s);
      const gone = disconnected(s);
      await app.close();
      await gone;
      const after = counts(await registry.metrics());
      expect(after).toEqual({ ...Object.fromEntries(REASONS.map((r) => [r, 0])), server_shutdown: 1 });
    } finally {
      await app.close();
    }
  });
});
