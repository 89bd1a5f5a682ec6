import { randomBytes } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { ConnectionCounts } from '../src/realtime/connection-counts';
import { LogCapture } from './utils/log-capture';
import { RawEngineClient } from './utils/raw-engine-client';
import { expectServerServes } from './utils/server-checks';
import {
  closeAll,
  connectClient,
  createClient,
  disconnected,
  emitAck,
  makeToken,
  nextEvent,
  sleep,
  waitFor,
  subscribed,
} from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

const PUBLISH_TOKEN = 'abuse-publish-token-0123456789abcdef';
const CONNECT_TIMEOUT_MS = 1000;
const INVALID = { ok: false, error: { code: 'INVALID_PAYLOAD', message: expect.any(String) } };

/**
 * Hostile WebSocket clients: each gets a clean refusal (an error ack, or its own connection closed), and the
 * server stays healthy for everyone else. After every case a fresh client must still connect, subscribe and
 * receive a publish, and a bystander connected before the case must still be connected and receiving.
 */
describe('Abuse: WebSocket clients (e2e)', () => {
  const logs = new LogCapture();
  let t: TestApp;
  const sockets: Socket[] = [];
  const raws: RawEngineClient[] = [];
  let bystander: Socket;
  let n = 0;

  const raw = async (headers?: Record<string, string>) => {
    const c = await RawEngineClient.open(t.url, { headers });
    raws.push(c);
    return c;
  };
  /** A raw client past the handshake and an accepted CONNECT, as user `userId` allowed to watch p1. */
  const authedRaw = async (userId = `raw-${++n}`) => {
    const c = await raw();
    await c.connectAs(makeToken(userId, ['p1']));
    return c;
  };
  const connections = () => t.app.get(ConnectionCounts).totalConnections;
  const publish = (body: object) =>
    request(t.url).post('/events').set('Authorization', `Bearer ${PUBLISH_TOKEN}`).send(body).timeout(5000);

  beforeAll(async () => {
    logs.start();
    t = await createTestApp({
      PUBLISH_TOKEN,
      WS_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
      CORS_ORIGINS: 'https://app.example.com',
    });
  });
  beforeEach(async () => {
    bystander = await connectClient(t.url, `bystander-${++n}`, ['p1']);
    sockets.push(bystander);
    await expect(emitAck(bystander, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(
      subscribed('p1'),
    );
  });
  afterEach(async () => {
    try {
      // The bystander was never disturbed: still connected, still subscribed.
      expect(bystander.connected).toBe(true);
      const got = nextEvent(bystander, 'portfolio:update');
      await publish({ event: 'portfolio:update', portfolioId: 'p1', data: { after: true } }).expect(202);
      await expect(got).resolves.toMatchObject({ data: { after: true } });
      await expectServerServes(t.url, PUBLISH_TOKEN);
      expect(logs.find('Uncaught exception')).toEqual([]);
      expect(logs.find('Unhandled rejection')).toEqual([]);
    } finally {
      for (const c of raws.splice(0)) c.terminate();
      closeAll(sockets);
    }
  });
  afterAll(async () => {
    await t.close();
    logs.stop();
  });

  describe('garbage and invalid packets close only the sender', () => {
    const garbage: Array<[string, string | Buffer]> = [
      ['plain text', 'hello'],
      ['an empty text frame', ''],
      ['an unknown engine.io type', '9'],
      ['control characters', '\u0000\u0001\u0002'],
      ['random binary', randomBytes(512)],
      ['a socket.io message of text', '4hello'],
      ['an unknown socket.io type', '49'],
      ['an EVENT that is not JSON', '42not json'],
      ['an EVENT that is an object', '42{"a":1}'],
      ['an EVENT with no name', '42[]'],
      ['an EVENT named like a reserved event', '42["disconnect"]'],
      ['a BINARY_EVENT with a bad attachment count', '45x-["portfolio:subscribe"]'],
      ['a BINARY_EVENT with zero attachments', '450-["portfolio:subscribe",{}]'],
      ['binary data nobody announced', Buffer.from([1, 2, 3])],
      ['a DISCONNECT with a payload', '41{"x":1}'],
    ];

    it.each(garbage)('after CONNECT: %s', async (_name, frame) => {
      const c = await authedRaw();
      await waitFor(() => connections() >= 2, 2000);
      c.send(frame);
      await c.closedWithin(3000);
      // The server forgot the socket: nothing leaks in the registry.
      await waitFor(() => connections() === 1, 2000);
    });

    it.each(garbage.filter(([, f]) => typeof f === 'string' && !f.startsWith('4')))(
      'before CONNECT: %s',
      async (_name, frame) => {
        const c = await raw();
        await c.handshake();
        c.send(frame);
        await c.closedWithin(3000);
      },
    );

    it('harmless oddities are ignored and the socket keeps working', async () => {
      const c = await authedRaw();
      c.send('42[1,{"x":1}]'); // a numeric event name: unknown, ignored
      c.send('431[]'); // an ACK for an id the server never used
      c.send('3'); // a pong nobody asked for
      c.send('42["no:such:event",{"x":1}]');
      await expect(c.emitWithAck(7, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual([
        subscribed('p1'),
      ]);
      expect(c.isOpen).toBe(true);
    });

    it('CONNECT to a namespace that does not exist is refused; the main namespace still works', async () => {
      const c = await raw();
      await c.handshake();
      c.send('40/admin,');
      const answer = await c.next((f) => typeof f === 'string' && f.startsWith('44/admin,'));
      expect(JSON.parse((answer as string).slice('44/admin,'.length))).toEqual({
        message: 'Invalid namespace',
      });
      await expect(c.connectNamespace({ token: makeToken('ns-user', ['p1']) })).resolves.toMatch(
        /^40\{"sid":/,
      );
    });
  });

  describe('protocol misuse', () => {
    it('CONNECT twice closes the connection and leaves no ghost in the registry', async () => {
      const c = await authedRaw('twice');
      await waitFor(() => connections() === 2, 2000);
      c.send(`40${JSON.stringify({ token: makeToken('twice', ['p1']) })}`);
      await c.closedWithin(3000);
      await waitFor(() => connections() === 1, 2000);
    });

    it('EVENT before CONNECT is never handled: no ack, connection closed', async () => {
      const c = await raw();
      await c.handshake();
      c.send('421["portfolio:subscribe",{"portfolioId":"p1"}]');
      await c.closedWithin(3000);
      expect(c.frames.filter((f) => typeof f === 'string' && f.startsWith('43'))).toEqual([]);
      expect(connections()).toBe(1);
    });

    it('a refused CONNECT (no token) does not let events through either', async () => {
      const c = await raw();
      await c.handshake();
      await expect(c.connectNamespace({})).resolves.toBe('44{"message":"unauthorized"}');
      c.send('421["portfolio:subscribe",{"portfolioId":"p1"}]');
      await c.closedWithin(3000);
      expect(c.frames.filter((f) => typeof f === 'string' && f.startsWith('43'))).toEqual([]);
    });
  });

  describe('binary and nested payloads where JSON is expected', () => {
    it('a binary attachment as the payload is answered INVALID_PAYLOAD and the socket stays', async () => {
      const c = await authedRaw();
      const from = c.frames.length;
      c.send('451-3["portfolio:subscribe",{"_placeholder":true,"num":0}]');
      c.send(Buffer.from('{"portfolioId":"p1"}'));
      const ack = await c.next((f) => typeof f === 'string' && f.startsWith('433['), 3000, from);
      expect(JSON.parse((ack as string).slice(3))).toEqual([INVALID]);
      expect(c.isOpen).toBe(true);
      await expect(c.emitWithAck(4, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual([
        subscribed('p1'),
      ]);
    });

    it('binary anywhere in the payload (socket.io-client) is refused field by field', async () => {
      const s = await connectClient(t.url, `bin-${++n}`, ['p1']);
      sockets.push(s);
      await expect(emitAck(s, 'portfolio:subscribe', Buffer.from('p1'))).resolves.toEqual(INVALID);
      await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: Buffer.from('p1') })).resolves.toEqual(
        INVALID,
      );
      await expect(emitAck(s, 'portfolio:subscribe', new Uint8Array([1, 2]))).resolves.toEqual(INVALID);
      expect(s.connected).toBe(true);
    });

    it('a placeholder pointing past the attachments closes the connection', async () => {
      const c = await authedRaw();
      c.send('451-["portfolio:subscribe",{"_placeholder":true,"num":5}]');
      c.send(Buffer.from([1]));
      await c.closedWithin(3000);
    });

    it('deeply nested JSON is answered INVALID_PAYLOAD without harm', async () => {
      const c = await authedRaw();
      const depth = 20_000; // as deep as fits in the 64 KB message limit
      const nested = '['.repeat(depth) + ']'.repeat(depth);
      const from = c.frames.length;
      c.send(`421["portfolio:subscribe",{"portfolioId":${nested}}]`);
      c.send(`422["portfolio:subscribe",${'{"a":'.repeat(depth / 2)}1${'}'.repeat(depth / 2)}]`);
      c.send(`423["unknown:event",${nested}]`);
      const ack1 = await c.next((f) => typeof f === 'string' && f.startsWith('431['), 3000, from);
      const ack2 = await c.next((f) => typeof f === 'string' && f.startsWith('432['), 3000, from);
      expect(JSON.parse((ack1 as string).slice(3))).toEqual([
        { ok: false, error: { code: 'INVALID_PAYLOAD', message: 'portfolioId must be a string' } },
      ]);
      expect(JSON.parse((ack2 as string).slice(3))).toEqual([
        { ok: false, error: { code: 'INVALID_PAYLOAD', message: 'unexpected field "a"' } },
      ]);
      // Unknown events are ignored, with or without an ack id. Barrier: the ack of a later event comes after any
      // answer to event 3 would have.
      c.send('424["portfolio:subscribe",{"portfolioId":"barrier"}]');
      await c.next((f) => typeof f === 'string' && f.startsWith('434['), 3000, from);
      expect(c.frames.slice(from).filter((f) => typeof f === 'string' && f.startsWith('433'))).toEqual([]);
      expect(c.isOpen).toBe(true);
    });
  });

  describe('10 MB payloads', () => {
    const TEN_MB = 10 * 1024 * 1024;

    it('over the WebSocket transport: the sender is closed (1009), nobody else notices', async () => {
      const c = await authedRaw();
      c.send(`42["portfolio:subscribe",{"portfolioId":"${'x'.repeat(TEN_MB)}"}]`);
      await expect(c.closedWithin(5000)).resolves.toMatchObject({ code: 1009 });
    });

    it('from socket.io-client: transport close for the sender only', async () => {
      const s = await connectClient(t.url, `big-${++n}`, ['p1']);
      sockets.push(s);
      const gone = disconnected(s);
      s.emit('portfolio:subscribe', { portfolioId: 'p1', blob: 'x'.repeat(TEN_MB) });
      await expect(gone).resolves.toBe('transport close');
    });

    it('over HTTP long-polling: 413, and the session is gone', async () => {
      const open = await request(t.url).get('/socket.io/?EIO=4&transport=polling').timeout(5000).expect(200);
      const { sid } = JSON.parse(open.text.slice(1)) as { sid: string };
      // A long-poll in flight, as a real polling client always has: it is how the server says goodbye.
      const longPoll = request(t.url).get(`/socket.io/?EIO=4&transport=polling&sid=${sid}`).timeout(5000);
      const pollDone = longPoll.then((r) => r);
      await sleep(100);
      const res = await request(t.url)
        .post(`/socket.io/?EIO=4&transport=polling&sid=${sid}`)
        .set('content-type', 'text/plain;charset=UTF-8')
        .send(`42["portfolio:subscribe","${'x'.repeat(TEN_MB)}"]`)
        .timeout(10_000);
      expect(res.status).toBe(413);
      const closing = await pollDone;
      expect(closing.status).toBe(200);
      expect(closing.text).toBe('1'); // engine.io CLOSE
      const after = await request(t.url).get(`/socket.io/?EIO=4&transport=polling&sid=${sid}`).timeout(5000);
      expect(after.status).toBe(400);
    });
  });

  describe('flooding', () => {
    it('1,000 events/s from one client: RATE_LIMITED acks, then a disconnect; a second client stays prompt', async () => {
      const flooderId = `flooder-${++n}`;
      const flooder = await connectClient(t.url, flooderId, ['p1']);
      const calm = await connectClient(t.url, `calm-${++n}`, ['p1']);
      sockets.push(flooder, calm);

      const ackTimes = async (count: number): Promise<number[]> => {
        const times: number[] = [];
        for (let i = 0; i < count; i++) {
          const started = performance.now();
          await expect(emitAck(calm, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(
            subscribed('p1'),
          );
          times.push(performance.now() - started);
          await sleep(60); // stay under the calm client's own rate limit
        }
        return times;
      };
      const baseline = await ackTimes(15);

      const answers: Array<{ ok: boolean; error?: { code: string } }> = [];
      let sent = 0;
      const gone = disconnected(flooder, 20_000);
      const started = Date.now();
      // 10 events every 10 ms: about 1,000 per second, for as long as the server lets the flooder stay.
      const timer = setInterval(() => {
        for (let i = 0; i < 10 && flooder.connected; i++) {
          sent++;
          flooder.emit('portfolio:subscribe', { portfolioId: 'p1' }, (a: { ok: boolean }) => answers.push(a));
        }
      }, 10);
      let during: number[];
      try {
        await sleep(500);
        during = await ackTimes(15);
        await expect(gone).resolves.toBe('io server disconnect');
      } finally {
        clearInterval(timer);
      }
      const floodedFor = Date.now() - started;

      // Disconnected after sustained flooding (FLOOD_DISCONNECT_MS = 10 s), not before.
      expect(floodedFor).toBeGreaterThanOrEqual(9_500);
      expect(sent).toBeGreaterThan(5_000);
      const ok = answers.filter((a) => a.ok).length;
      const limited = answers.filter((a) => !a.ok);
      // Burst of 40 plus 20/s over the flood, with slack for timer jitter: everything else was refused.
      expect(ok).toBeGreaterThanOrEqual(40);
      expect(ok).toBeLessThanOrEqual(40 + Math.ceil((floodedFor / 1000) * 20) + 20);
      expect(limited.length).toBeGreaterThan(answers.length / 2);
      for (const a of limited) expect(a).toEqual({ ok: false, error: { code: 'RATE_LIMITED' } });
      expect(logs.find('WebSocket client disconnected for flooding')).toEqual(
        expect.arrayContaining([expect.objectContaining({ level: 'warn', userId: flooderId })]),
      );

      // The calm client was never queued behind the flood: compared to its own baseline, generously.
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      expect(med(during)).toBeLessThanOrEqual(med(baseline) * 10 + 100);
      expect(calm.connected).toBe(true);
    }, 30_000);
  });

  describe('connections that never authenticate', () => {
    it('hundreds of handshakes without CONNECT are closed after WS_CONNECT_TIMEOUT_MS', async () => {
      const COUNT = 300;
      const opened = Date.now();
      const idle = await Promise.all(Array.from({ length: COUNT }, () => raw()));
      await Promise.all(idle.map((c) => c.handshake()));
      // And some that were refused (no token) and then just sit there.
      const refused = await Promise.all(Array.from({ length: 50 }, () => raw()));
      for (const c of refused) await c.handshake();
      for (const c of refused)
        await expect(c.connectNamespace({})).resolves.toBe('44{"message":"unauthorized"}');

      // Meanwhile the server serves.
      const fresh = await connectClient(t.url, `during-idle-${++n}`, ['p1']);
      sockets.push(fresh);
      await expect(emitAck(fresh, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(
        subscribed('p1'),
      );

      const all = [...idle, ...refused];
      const closedAt = await Promise.all(
        all.map((c) => c.closedWithin(CONNECT_TIMEOUT_MS + 5000).then(() => Date.now())),
      );
      // Not closed early by something else: it is the connect timeout that ends them.
      expect(Math.min(...closedAt) - opened).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 100);
      expect(all.every((c) => !c.isOpen)).toBe(true);
      // None of them ever counted as a connection.
      expect(connections()).toBe(2);
    }, 20_000);
  });

  describe('tokens', () => {
    const secret = 'test-secret-that-is-long-enough-for-production-0123';
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const refused: Array<[string, () => string]> = [
      ['huge (validly signed, 20 KB)', () => makeToken('huge', ['p1'], { jwtid: 'x'.repeat(20_000) })],
      [
        'alg none',
        () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'mallory', portfolios: ['p1'] })}.`,
      ],
      ['alg None (case games)', () => `${b64({ alg: 'None', typ: 'JWT' })}.${b64({ sub: 'mallory' })}.`],
      [
        'the wrong algorithm (HS512 with the right secret)',
        () => makeToken('mallory', ['p1'], { algorithm: 'HS512' }),
      ],
      ['the wrong secret', () => makeToken('mallory', ['p1'], {}, `${secret}-but-not-quite`)],
      ['expired', () => makeToken('mallory', ['p1'], { expiresIn: -1 })],
      ['not yet valid', () => makeToken('mallory', ['p1'], { notBefore: 3600 })],
      ['a truncated signature', () => makeToken('mallory', ['p1']).slice(0, -5)],
    ];

    it.each(refused)('%s: connect_error "unauthorized"', async (_name, token) => {
      const s = createClient(t.url, token());
      sockets.push(s);
      const error = await new Promise<Error>((resolve, reject) => {
        s.once('connect', () => reject(new Error('connected')));
        s.once('connect_error', resolve);
        s.connect();
      });
      expect(error.message).toBe('unauthorized');
      expect(connections()).toBe(1);
    });

    it('1 MB token: over the message limit, the connection is closed without ever connecting', async () => {
      const c = await raw();
      await c.handshake();
      c.send(`40${JSON.stringify({ token: 'a'.repeat(1024 * 1024) })}`);
      await expect(c.closedWithin(3000)).resolves.toMatchObject({ code: 1009 });
      expect(c.frames.filter((f) => typeof f === 'string' && f.startsWith('40{'))).toEqual([]);
    });
  });

  describe('a foreign Origin', () => {
    it('is refused for the WebSocket upgrade and for polling; a listed Origin is accepted', async () => {
      const evil = { Origin: 'https://evil.example' };
      const upgrade = await raw(evil);
      expect(upgrade.refusedWith).toBe(400);
      expect(upgrade.isOpen).toBe(false);

      const polling = await request(t.url).get('/socket.io/?EIO=4&transport=polling').set(evil).timeout(5000);
      expect(polling.status).toBe(403);
      expect(polling.text).not.toMatch(/^0\{/);
      expect(polling.headers['access-control-allow-origin']).toBeUndefined();

      const s = createClient(t.url, makeToken('evil-origin', ['p1']), { extraHeaders: evil });
      sockets.push(s);
      await expect(
        new Promise((resolve, reject) => {
          s.once('connect', () => reject(new Error('connected')));
          s.once('connect_error', resolve);
          s.connect();
        }),
      ).resolves.toBeInstanceOf(Error);

      const good = await raw({ Origin: 'https://app.example.com' });
      expect(good.refusedWith).toBeNull();
      await good.connectAs(makeToken('good-origin', ['p1']));
    });
  });
});
