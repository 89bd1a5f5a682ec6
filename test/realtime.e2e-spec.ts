import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decode, SignOptions } from 'jsonwebtoken';
import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { ConnectionCounts } from '../src/realtime/connection-counts';
import { SocketAdapterState } from '../src/realtime/socket-adapter-state';
import {
  accepted,
  closeAll,
  collect,
  connect,
  connectClient,
  connectError,
  createClient,
  disconnected,
  emitAck,
  makeToken,
  nextEvent,
  positioned,
  signToken,
  subscribed,
  waitFor,
} from './utils/socket-client';
import { createTestApp, TestApp } from './utils/test-app';

const PUBLISH_TOKEN = 'publish-token-for-tests-0123456789';
const DAY = 86_400;
const YEAR = 365 * DAY;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const runTokenScript = (args: string[], env: Record<string, string>) =>
  promisify(execFile)(process.execPath, [join(__dirname, '..', 'scripts', 'token.js'), ...args], {
    env: { ...process.env, ...env },
  });

describe('Realtime gateway (e2e)', () => {
  let t: TestApp;
  const sockets: Socket[] = [];
  const track = (s: Socket) => (sockets.push(s), s);
  const client = async (userId: string, portfolios?: string[]) =>
    track(await connectClient(t.url, userId, portfolios));
  const publish = (body: unknown, token = PUBLISH_TOKEN) =>
    request(t.url)
      .post('/events')
      .set('Authorization', `Bearer ${token}`)
      .send(body as object);
  const stats = () => {
    const counts = t.app.get(ConnectionCounts);
    return { totalConnections: counts.totalConnections, uniqueUsers: counts.uniqueUsers };
  };

  beforeAll(async () => {
    t = await createTestApp({ PUBLISH_TOKEN, WS_RATE_LIMIT: '1000', WS_RATE_BURST: '1000' });
  });
  afterEach(() => closeAll(sockets));
  afterAll(() => t.close());

  describe('handshake authentication', () => {
    it('accepts a valid HS256 token', async () => {
      const s = await client('alice');
      expect(s.connected).toBe(true);
    });

    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const header = (h: object) => Buffer.from(JSON.stringify(h)).toString('base64url');
    const refused: Array<[string, () => string | undefined]> = [
      ['no token', () => undefined],
      ['an empty token', () => ''],
      ['garbage', () => 'not-a-jwt'],
      [
        'a token signed with another secret',
        () => makeToken('alice', [], {}, 'some-other-secret-that-is-long-enough-xx'),
      ],
      ['alg none', () => `${header({ alg: 'none', typ: 'JWT' })}.${header({ sub: 'alice' })}.`],
      ['an RS256 token', () => signToken({ sub: 'alice' }, { algorithm: 'RS256' }, privateKey)],
      [
        'an RS256-labelled token signed with the HMAC secret',
        () => {
          const good = makeToken('alice').split('.');
          return `${header({ alg: 'RS256', typ: 'JWT' })}.${good[1]}.${good[2]}`;
        },
      ],
      ['an expired token', () => makeToken('alice', [], { expiresIn: -10 })],
      [
        // jsonwebtoken compares whole seconds and accepts this one; it has nevertheless expired.
        'a token whose fractional exp has just passed',
        () => signToken({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 0.001 }),
      ],
      ['a token without sub', () => signToken({ portfolios: ['p1'] })],
      // A token without exp would open sockets for ever, with no way to revoke it.
      ['a token without exp', () => signToken({ sub: 'alice' }, { expiresIn: undefined })],
      [
        'a token issued ten years in the future',
        () =>
          signToken({ sub: 'alice', iat: nowSeconds() + 10 * YEAR, exp: nowSeconds() + 10 * YEAR + 3600 }),
      ],
      [
        'a token issued beyond the clock skew',
        () => signToken({ sub: 'alice', iat: nowSeconds() + 120, exp: nowSeconds() + 3600 }),
      ],
      ['a token not valid before an hour from now', () => makeToken('alice', [], { notBefore: 3600 })],
      [
        'a token living longer than JWT_MAX_TOKEN_AGE (1d)',
        () => makeToken('alice', [], { expiresIn: '2d' }),
      ],
      [
        'a token without iat expiring beyond JWT_MAX_TOKEN_AGE',
        () => makeToken('alice', [], { expiresIn: '25h', noTimestamp: true }),
      ],
      [
        'a token issued a week ago that still has an hour to run',
        () => signToken({ sub: 'alice', iat: nowSeconds() - 7 * DAY, exp: nowSeconds() + 3600 }),
      ],
      ['a token whose portfolios claim is not a list of ids', () => makeToken('alice', ['ok', '../etc'])],
    ];
    it.each(refused)('refuses %s with connect_error "unauthorized"', async (_name, token) => {
      await expect(connectError(t.url, token())).resolves.toBe('unauthorized');
      expect(stats().totalConnections).toBe(0);
    });

    it('refuses a non-string token the same way', async () => {
      const s = createClient(t.url, undefined, { auth: { token: { sub: 'alice' } } });
      await expect(connect(s)).rejects.toThrow('unauthorized');
      s.disconnect();
    });

    it('disconnects a socket whose token expires while connected', async () => {
      const s = track(await connect(createClient(t.url, makeToken('brief', [], { expiresIn: 2 }))));
      const started = Date.now();
      await expect(disconnected(s, 5000)).resolves.toBe('io server disconnect');
      expect(Date.now() - started).toBeGreaterThan(500);
      await waitFor(() => stats().totalConnections === 0, 2000);
    });

    it('takes the user id from the token only, never from what the client sends', async () => {
      const s = track(
        await connect(
          createClient(t.url, makeToken('real-user'), {
            auth: { token: makeToken('real-user'), userId: 'mallory' },
            query: { userId: 'mallory' },
          }),
        ),
      );
      const got = collect(s, 'trade:executed');
      await publish({ event: 'trade:executed', userId: 'mallory', data: { n: 1 } })
        .expect(202)
        .then((r) => expect(r.body).toEqual(accepted('trade:executed', ['user:mallory'], 0)));
      const mine = nextEvent(s, 'trade:executed');
      await publish({ event: 'trade:executed', userId: 'real-user', data: { n: 2 } }).expect(202);
      expect((await mine).data).toEqual({ n: 2 });
      expect(got.items.map((i) => i.data)).toEqual([{ n: 2 }]);
    });

    it('npm run token prints a token the server accepts', async () => {
      const { stdout } = await runTokenScript(['script-user', 'p1', 'p2'], {
        JWT_SECRET: t.config.jwtSecret,
      });
      const s = track(await connect(createClient(t.url, stdout.trim())));
      await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'p2' })).resolves.toEqual(
        subscribed('p2'),
      );
      await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'p3' })).resolves.toMatchObject({
        ok: false,
        error: { code: 'FORBIDDEN' },
      });
    });
  });

  describe('portfolio subscriptions', () => {
    it('subscribes to an allowed portfolio and unsubscribes', async () => {
      const s = await client('alice', ['p1', 'p2']);
      await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(
        subscribed('p1'),
      );
      const update = nextEvent(s, 'portfolio:update');
      await publish({ event: 'portfolio:update', portfolioId: 'p1', data: { value: 10 } })
        .expect(202)
        .then((r) => expect(r.body).toEqual(accepted('portfolio:update', ['portfolio:p1'], 1)));
      const u = await update;
      expect(u).toEqual(
        positioned({ portfolioId: 'p1', data: { value: 10 }, timestamp: expect.any(String) }, [
          'portfolio:p1',
        ]),
      );
      expect(new Date(u.timestamp).toISOString()).toBe(u.timestamp);

      await expect(emitAck(s, 'portfolio:unsubscribe', { portfolioId: 'p1' })).resolves.toEqual({
        ok: true,
        portfolioId: 'p1',
      });
      const after = collect(s, 'portfolio:update');
      await publish({ event: 'portfolio:update', portfolioId: 'p1', data: { value: 11 } })
        .expect(202)
        .then((r) => expect(r.body).toEqual(accepted('portfolio:update', ['portfolio:p1'], 0)));
      // An ack round trip on the same socket: an update sent by that publish would have arrived before it.
      await emitAck(s, 'portfolio:unsubscribe', { portfolioId: 'p1' });
      expect(after.items).toEqual([]);
    });

    it('answers FORBIDDEN for a portfolio outside the token claim (and without any claim)', async () => {
      const s = await client('alice', ['p1']);
      const res = await emitAck(s, 'portfolio:subscribe', { portfolioId: 'p9' });
      expect(res).toEqual({ ok: false, error: { code: 'FORBIDDEN', message: expect.any(String) } });
      const noClaim = await client('bob');
      await expect(emitAck(noClaim, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toMatchObject({
        ok: false,
        error: { code: 'FORBIDDEN' },
      });
      await publish({ event: 'portfolio:update', portfolioId: 'p9', data: {} })
        .expect(202)
        .then((r) => expect(r.body).toEqual(accepted('portfolio:update', ['portfolio:p9'], 0)));
    });

    const big = 'x'.repeat(10_000);
    const malformed: Array<[string, unknown[]]> = [
      ['no payload', []],
      ['null', [null]],
      ['a number', [42]],
      ['a string', ['p1']],
      ['a boolean', [true]],
      ['an array', [['p1']]],
      ['an empty object', [{}]],
      ['a numeric portfolioId', [{ portfolioId: 1 }]],
      ['a null portfolioId', [{ portfolioId: null }]],
      ['an object portfolioId', [{ portfolioId: { $ne: null } }]],
      ['an array portfolioId', [{ portfolioId: ['p1'] }]],
      ['an empty portfolioId', [{ portfolioId: '' }]],
      ['a 65-character portfolioId', [{ portfolioId: 'a'.repeat(65) }]],
      ['a huge portfolioId', [{ portfolioId: big }]],
      ['a portfolioId with a space', [{ portfolioId: 'p 1' }]],
      ['a portfolioId with a colon (room injection)', [{ portfolioId: 'p1:x' }]],
      ['a portfolioId with unicode', [{ portfolioId: 'pé' }]],
      ['an extra field', [{ portfolioId: 'p1', userId: 'mallory' }]],
      ['a __proto__ key', [JSON.parse('{"portfolioId":"p1","__proto__":{"polluted":true}}')]],
      ['a constructor key', [{ portfolioId: 'p1', constructor: { prototype: {} } }]],
      ['nested junk', [{ portfolioId: 'p1', a: { b: { c: { d: [1, [2, [3]]] } } } }]],
      ['binary data', [Buffer.from('p1')]],
      ['two payload arguments', [{ portfolioId: 'p1' }, { portfolioId: 'p2' }]],
    ];
    it.each(malformed)('answers INVALID_PAYLOAD to %s and stays connected', async (_name, args) => {
      const s = await client('alice', ['p1', 'p2']);
      for (const event of ['portfolio:subscribe', 'portfolio:unsubscribe']) {
        const res = await emitAck(s, event, ...args);
        expect(res).toEqual({ ok: false, error: { code: 'INVALID_PAYLOAD', message: expect.any(String) } });
      }
      expect(s.connected).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(
        subscribed('p1'),
      );
    });

    it('handles an event sent without an ack callback, and answers nothing', async () => {
      const s = await client('alice', ['p2']);
      s.emit('portfolio:subscribe', { portfolioId: 'p2' });
      s.emit('portfolio:subscribe', 'junk');
      await waitFor(
        async () =>
          (await publish({ event: 'portfolio:update', portfolioId: 'p2', data: {} })).body.delivered === 1,
        2000,
      );
      expect(s.connected).toBe(true);
    });

    it('ignores unknown events (with or without an ack) and keeps the socket', async () => {
      const s = await client('alice', ['p1']);
      let answered = false;
      s.emit('does:not:exist', { x: 1 }, () => (answered = true));
      s.emit('another-unknown');
      await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(
        subscribed('p1'),
      );
      // That ack was sent after the unknown events were handled: an answer to them would have arrived first.
      expect(answered).toBe(false);
      expect(s.connected).toBe(true);
    });
  });

  describe('POST /events', () => {
    it('reaches exactly the subscribed sockets and the user’s own sockets, nobody else', async () => {
      const a1 = await client('alice', ['p1']);
      const a2 = await client('alice', ['p1']);
      const b = await client('bob', ['p1']);
      const c = await client('carol', ['p1']);
      const d = await client('dave', ['p2']);
      await emitAck(a1, 'portfolio:subscribe', { portfolioId: 'p1' });
      await emitAck(b, 'portfolio:subscribe', { portfolioId: 'p1' });
      await emitAck(d, 'portfolio:subscribe', { portfolioId: 'p2' });
      const all = [a1, a2, b, c, d].map((s) => collect(s, 'trade:executed'));

      // alice's two sockets (a1 also in the room: counted once) + bob in the room.
      const res = await publish({
        event: 'trade:executed',
        userId: 'alice',
        portfolioId: 'p1',
        data: { qty: 5 },
      }).expect(202);
      expect(res.body).toEqual(accepted('trade:executed', ['user:alice', 'portfolio:p1'], 3));
      await waitFor(() => all[0].items.length + all[1].items.length + all[2].items.length === 3, 2000);
      // An ack round trip on every socket: a delivery to a wrong one, or a second one, would have arrived first.
      await Promise.all(
        [a1, a2, b, c, d].map((s) => emitAck(s, 'portfolio:unsubscribe', { portfolioId: 'p9' })),
      );
      expect(all.map((x) => x.items.length)).toEqual([1, 1, 1, 0, 0]);
      expect(all[0].items[0]).toEqual(
        positioned({ userId: 'alice', portfolioId: 'p1', data: { qty: 5 }, timestamp: expect.any(String) }, [
          'user:alice',
          'portfolio:p1',
        ]),
      );

      const userOnly = await publish({ event: 'trade:executed', userId: 'carol', data: { qty: 1 } }).expect(
        202,
      );
      expect(userOnly.body).toEqual(accepted('trade:executed', ['user:carol'], 1));
      await waitFor(() => all[3].items.length === 1, 2000);
      expect(all[3].items[0]).toEqual(
        positioned({ userId: 'carol', data: { qty: 1 }, timestamp: expect.any(String) }, ['user:carol']),
      );
    });

    it('401 unless the header is exactly `Bearer <token>` (the scheme in any case)', async () => {
      const body = { event: 'trade:executed', userId: 'a', data: {} };
      const withHeader = (authorization: string) =>
        request(t.url).post('/events').set('Authorization', authorization).send(body);
      await withHeader(`Bearer ${PUBLISH_TOKEN} junk`).expect(401);
      await withHeader(`Bearer ${PUBLISH_TOKEN} ${PUBLISH_TOKEN}`).expect(401);
      await withHeader(`Bearer  ${PUBLISH_TOKEN}`).expect(401);
      await withHeader(`Bearer\t${PUBLISH_TOKEN}`).expect(401);
      await withHeader(`Bearer ${PUBLISH_TOKEN},Bearer other`).expect(401);
      await withHeader(`bearer ${PUBLISH_TOKEN}`).expect(202);
      await withHeader(`BEARER ${PUBLISH_TOKEN}`).expect(202);
    });

    it('401 without or with a wrong token', async () => {
      await request(t.url)
        .post('/events')
        .send({ event: 'trade:executed', userId: 'a', data: {} })
        .expect(401);
      await publish({ event: 'trade:executed', userId: 'a', data: {} }, 'wrong').expect(401);
      await publish({ event: 'trade:executed', userId: 'a', data: {} }, PUBLISH_TOKEN + 'x').expect(401);
      await request(t.url)
        .post('/events')
        .set('Authorization', `Basic ${Buffer.from('x:' + PUBLISH_TOKEN).toString('base64')}`)
        .send({ event: 'trade:executed', userId: 'a', data: {} })
        .expect(401);
    });

    const invalidBodies: Array<[string, unknown, string]> = [
      ['an unknown event', { event: 'hack', userId: 'a', data: {} }, 'event'],
      ['no target', { event: 'trade:executed', data: {} }, 'userId'],
      ['portfolio:update without portfolioId', { event: 'portfolio:update', data: {} }, 'portfolioId'],
      ['a bad portfolioId', { event: 'portfolio:update', portfolioId: 'a b', data: {} }, 'portfolioId'],
      ['data not an object', { event: 'trade:executed', userId: 'a', data: 'x' }, 'data'],
      ['data an array', { event: 'trade:executed', userId: 'a', data: [1] }, 'data'],
      ['no data', { event: 'trade:executed', userId: 'a' }, 'data'],
      ['data over 64 KB', { event: 'trade:executed', userId: 'a', data: { s: 'x'.repeat(66_000) } }, 'data'],
      ['an extra field', { event: 'trade:executed', userId: 'a', data: {}, extra: 1 }, 'body'],
      [
        'a __proto__ key in data',
        JSON.parse('{"event":"trade:executed","userId":"a","data":{"__proto__":{"x":1}}}'),
        'data',
      ],
    ];
    it.each(invalidBodies)('400 with field errors for %s', async (_name, body, field) => {
      const res = await publish(body).expect(400);
      expect(res.body).toMatchObject({ statusCode: 400, message: 'Invalid event' });
      expect(res.body.errors).toEqual(expect.arrayContaining([{ field, message: expect.any(String) }]));
    });

    it('refuses a body over the parser limit with 413', async () => {
      await publish({ event: 'trade:executed', userId: 'a', data: { s: 'x'.repeat(200_000) } }).expect(413);
    });
  });

  describe('stats', () => {
    it('follow the connection registry, in ConnectionCounts and in JSON /metrics', async () => {
      await client('alice');
      await client('alice');
      await client('bob');
      expect(stats()).toEqual({ totalConnections: 3, uniqueUsers: 2 });
      const adapter = t.app.get(SocketAdapterState);
      expect({ redisEnabled: adapter.redisEnabled, degraded: adapter.degraded }).toEqual({
        redisEnabled: false,
        degraded: false,
      });
      const res = await request(t.url).get('/metrics').expect(200);
      expect(res.body.websocket).toMatchObject({ totalConnections: 3, uniqueUsers: 2, redisEnabled: false });
      expect(res.body.business.activeUsers).toBe(2);
    });

    it('stay exact across 1,000 connect/disconnect cycles', async () => {
      const keep = await client('keeper');
      const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
      const cycle = async (i: number) => {
        const s = await connectClient(t.url, users[i % users.length]);
        // Half disconnect from the client side, half are dropped without a goodbye.
        if (i % 2 === 0) s.disconnect();
        else s.io.engine.close();
      };
      for (let batch = 0; batch < 1000; batch += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, k) => cycle(batch + k)));
      }
      await waitFor(() => stats().totalConnections === 1, 5000);
      expect(stats()).toMatchObject({ totalConnections: 1, uniqueUsers: 1 });
      keep.disconnect();
      await waitFor(() => stats().totalConnections === 0, 2000);
      expect(stats()).toMatchObject({ totalConnections: 0, uniqueUsers: 0 });
    }, 60_000);
  });
});

describe('Realtime gateway without PUBLISH_TOKEN (e2e)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('POST /events is 503 and says why', async () => {
    const res = await request(t.url)
      .post('/events')
      .set('Authorization', 'Bearer anything')
      .send({ event: 'trade:executed', userId: 'a', data: {} })
      .expect(503);
    expect(res.body.message).toMatch(/PUBLISH_TOKEN is not set/);
  });
});

describe('Realtime gateway with JWT_AUDIENCE, JWT_ISSUER and JWT_MAX_TOKEN_AGE (e2e)', () => {
  const AUDIENCE = 'trading-ws';
  const ISSUER = 'https://auth.example.test';
  const env = { JWT_AUDIENCE: AUDIENCE, JWT_ISSUER: ISSUER, JWT_MAX_TOKEN_AGE: '2h' };
  const ours = { audience: AUDIENCE, issuer: ISSUER };
  let t: TestApp;
  const sockets: Socket[] = [];
  const track = (s: Socket) => (sockets.push(s), s);

  beforeAll(async () => {
    t = await createTestApp(env);
  });
  afterEach(() => closeAll(sockets));
  afterAll(() => t.close());

  it('accepts a token for this audience (alone or among others) and issuer', async () => {
    expect(track(await connect(createClient(t.url, makeToken('alice', [], ours)))).connected).toBe(true);
    const several = makeToken('alice', [], { ...ours, audience: ['api', AUDIENCE] });
    expect(track(await connect(createClient(t.url, several))).connected).toBe(true);
  });

  it.each<[string, SignOptions]>([
    ['a token without aud', { issuer: ISSUER }],
    ['a refresh token: same secret, another audience', { ...ours, audience: 'refresh' }],
    ['a token without iss', { audience: AUDIENCE }],
    ['a token from another issuer', { ...ours, issuer: 'https://elsewhere.example.test' }],
    ['a token living longer than JWT_MAX_TOKEN_AGE (2h)', { ...ours, expiresIn: '3h' }],
  ])('refuses %s with connect_error "unauthorized"', async (_name, options) => {
    await expect(connectError(t.url, makeToken('alice', [], options))).resolves.toBe('unauthorized');
  });

  it('npm run token mints exp, aud and iss from the same environment, and the server accepts the token', async () => {
    const { stdout } = await runTokenScript(['script-user', 'p1'], {
      JWT_SECRET: t.config.jwtSecret,
      ...env,
    });
    const token = stdout.trim();
    expect(decode(token)).toMatchObject({ sub: 'script-user', aud: AUDIENCE, iss: ISSUER });
    const s = track(await connect(createClient(t.url, token)));
    await expect(emitAck(s, 'portfolio:subscribe', { portfolioId: 'p1' })).resolves.toEqual(subscribed('p1'));
  });

  it('npm run token refuses to mint a lifetime the server would refuse', async () => {
    await expect(
      runTokenScript(['script-user', '--expires-in', '3h'], { JWT_SECRET: t.config.jwtSecret, ...env }),
    ).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('longer than JWT_MAX_TOKEN_AGE (2h)'),
    });
  });
});
