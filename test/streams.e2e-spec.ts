import Redis from 'ioredis';
import type { Socket } from 'socket.io-client';
import { ClusterPeers } from '../src/realtime/cluster-peers';
import { StreamDelivery } from '../src/realtime/stream-delivery';
import { RedisTestServer } from './utils/redis-server';
import {
  closeAll,
  connect,
  connectError,
  createClient,
  makeToken,
  sleep,
  waitFor,
} from './utils/socket-client';
import { expectConsecutive, type Position, postEvent, StreamRecorder } from './utils/stream-client';
import { createTestApp, TestApp } from './utils/test-app';

const PUBLISH_TOKEN = 'streams-publish-token-0123456789';

/**
 * Positions, resume and idempotent publishing against a real redis-server, with two replicas (in-process apps)
 * sharing it: what a plain socket.io-client sees (docs/socket-contract.md#resume).
 */
describe('Stream positions and resume on two replicas (e2e)', () => {
  const redis = new RedisTestServer();
  let a: TestApp;
  let b: TestApp;
  let admin: Redis;
  const sockets: Socket[] = [];

  const env = (id: string) => ({
    REDIS_URL: redis.url,
    PUBLISH_TOKEN,
    RAILWAY_REPLICA_ID: id,
    CLUSTER_HEARTBEAT_MS: '300',
    WS_TRANSPORTS: 'websocket',
    WS_RATE_LIMIT: '1000',
    WS_RATE_BURST: '1000',
    STREAM_HISTORY_SIZE: '100',
  });
  const publish = (app: TestApp, body: object, headers: Record<string, string> = {}) =>
    postEvent(app.url, PUBLISH_TOKEN, body, headers);
  const update = (portfolioId: string, data: object) => ({ event: 'portfolio:update', portfolioId, data });

  /** A connected client with its recorder; `since` goes into the handshake (user stream resume). */
  async function client(
    app: TestApp,
    userId: string,
    portfolios: string[],
    since?: Position,
  ): Promise<StreamRecorder> {
    const token = makeToken(userId, portfolios);
    const socket = createClient(app.url, undefined, {
      auth: since === undefined ? { token } : { token, since },
    });
    sockets.push(socket);
    const rec = new StreamRecorder(socket);
    await connect(socket);
    return rec;
  }

  /** Publishes a marker to `portfolioId` and waits until `rec` has it: everything sent before it has arrived. */
  async function flush(app: TestApp, rec: StreamRecorder, portfolioId: string): Promise<void> {
    const tag = `flush-${Math.random().toString(36).slice(2)}`;
    await publish(app, update(portfolioId, { tag })).expect(202);
    await rec.waitFor((p) => p.data?.tag === tag);
  }

  beforeAll(async () => {
    await redis.start();
    [a, b] = await Promise.all([createTestApp(env('streams-a')), createTestApp(env('streams-b'))]);
    admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await admin.connect();
  }, 30_000);
  afterEach(() => closeAll(sockets));
  afterAll(async () => {
    closeAll(sockets);
    admin?.disconnect();
    await a?.close();
    await b?.close();
    await redis.stop();
  });

  it('positions: consecutive offsets in one epoch per stream; a trade to user+portfolio is in both streams and reaches a socket in both rooms once, with every old field', async () => {
    const rec = await client(a, 'pos-user', ['pos1']);
    const sub = await rec.request('portfolio:subscribe', { portfolioId: 'pos1' });
    expect(sub).toEqual({
      ok: true,
      portfolioId: 'pos1',
      stream: 'portfolio:pos1',
      position: { epoch: expect.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), offset: 0 },
    });
    const epoch = sub.position.epoch as string;

    const answers = [];
    for (let i = 1; i <= 5; i++)
      answers.push((await publish(i % 2 ? a : b, update('pos1', { i })).expect(202)).body);
    const trade = (
      await publish(b, {
        event: 'trade:executed',
        userId: 'pos-user',
        portfolioId: 'pos1',
        data: { qty: 3 },
      }).expect(202)
    ).body;
    answers.push(trade);
    await flush(a, rec, 'pos1');

    // The POST answers: old fields kept, id and positions added, offsets 1..6 in one epoch.
    answers.forEach((body, i) => {
      expect(body).toMatchObject({
        rooms: expect.any(Array),
        delivered: expect.any(Number),
        id: expect.any(String),
      });
      expect(body.degraded).toBeUndefined();
      expect(body.positions['portfolio:pos1']).toEqual({ epoch, offset: i + 1 });
    });
    expect(trade.rooms).toEqual(['user:pos-user', 'portfolio:pos1']);
    expect(trade.positions['user:pos-user']).toEqual({ epoch: expect.any(String), offset: 1 });
    expect(trade.positions['user:pos-user'].epoch).not.toBe(epoch);

    const got = rec.publications('portfolio:pos1').slice(0, 6);
    expectConsecutive(
      got.map((p) => p.positions['portfolio:pos1'].offset),
      1,
      6,
    );
    for (const p of got) expect(p.positions['portfolio:pos1'].epoch).toBe(epoch);
    const trades = rec.publications().filter((p) => p.id === trade.id);
    expect(trades).toHaveLength(1);
    expect(trades[0]).toEqual({
      userId: 'pos-user',
      portfolioId: 'pos1',
      data: { qty: 3 },
      timestamp: expect.any(String),
      id: trade.id,
      stream: 'user:pos-user',
      position: trade.positions['user:pos-user'],
      positions: trade.positions,
    });
    expect(new Date(trades[0].timestamp).toISOString()).toBe(trades[0].timestamp);
    expect(got[0]).toEqual({
      portfolioId: 'pos1',
      data: { i: 1 },
      timestamp: expect.any(String),
      id: answers[0].id,
      stream: 'portfolio:pos1',
      position: { epoch, offset: 1 },
      positions: { 'portfolio:pos1': { epoch, offset: 1 } },
    });
  });

  it('resume across replicas: a client that lost its transport on A resumes on B with exactly the 50 it missed, in order, once, then live', async () => {
    const onA = await client(a, 'res-user', ['res1']);
    await onA.request('portfolio:subscribe', { portfolioId: 'res1' });
    for (let i = 0; i < 3; i++) await publish(b, update('res1', { before: i })).expect(202);
    await waitFor(() => onA.offsets('portfolio:res1').length === 3, 3000);
    const since = onA.last('portfolio:res1')!;
    expect(since.offset).toBe(3);

    // The transport dies under the client (no goodbye), then 50 publications on B meanwhile.
    onA.socket.io.engine.close();
    await waitFor(() => !onA.socket.connected, 3000);
    const missed: string[] = [];
    for (let i = 0; i < 50; i++) {
      const body =
        i % 3 === 0 ? { event: 'trade:executed', portfolioId: 'res1', data: { i } } : update('res1', { i });
      missed.push((await publish(b, body).expect(202)).body.id as string);
    }

    const onB = await client(b, 'res-user', ['res1']);
    const ack = await onB.request('portfolio:subscribe', { portfolioId: 'res1', since });
    expect(ack).toEqual({
      ok: true,
      portfolioId: 'res1',
      stream: 'portfolio:res1',
      position: { epoch: since.epoch, offset: 53 },
      recovered: true,
      replayed: 50,
    });
    const ackAt = onB.seen.findIndex((s) => s.ev === 'ack:portfolio:subscribe');
    const before = onB.seen.slice(0, ackAt).filter((s) => s.ev !== 'user:stream');
    expect(before.map((s) => s.payload.id)).toEqual(missed);
    for (const s of before) expect(s.payload.replayed).toBe(true);
    expectConsecutive(
      before.map((s) => s.payload.positions['portfolio:res1'].offset),
      4,
      53,
    );

    await flush(a, onB, 'res1');
    expect(
      onB
        .publications()
        .map((p) => p.id)
        .slice(0, 50),
    ).toEqual(missed);
    expectConsecutive(onB.offsets('portfolio:res1'), 4, 54);
    expect(onB.publications()[50].replayed).toBeUndefined();
  });

  it('two subscribes of one portfolio in flight at once (a retry, a gap fill): both answered, and live events keep coming afterwards', async () => {
    const STREAM = 'portfolio:twice';
    const rec = await client(a, 'twice-user', ['twice']);
    await publish(b, update('twice', { n: 1 })).expect(202);
    const first = await rec.request('portfolio:subscribe', { portfolioId: 'twice' });
    const since = { epoch: first.position.epoch as string, offset: 0 };
    for (const payloads of [
      [{ portfolioId: 'twice' }, { portfolioId: 'twice' }],
      [
        { portfolioId: 'twice', since },
        { portfolioId: 'twice', since },
      ],
      [{ portfolioId: 'twice', since }, { portfolioId: 'twice' }, { portfolioId: 'twice', since }],
    ]) {
      const acks = await Promise.all(payloads.map((p) => rec.request('portfolio:subscribe', p)));
      for (const ack of acks) expect(ack).toMatchObject({ ok: true, stream: STREAM });
      const live = await publish(b, update('twice', { live: payloads.length })).expect(202);
      await rec.waitFor((p) => p.id === live.body.id, 3000);
    }
    // Duplicates come only from the replays (events already sent may come again); live ones arrive once.
    const live = rec.publications().filter((p) => p.replayed !== true);
    expect(new Set(live.map((p) => p.id)).size).toBe(live.length);
  });

  it('resume with since = the current position: recovered with nothing replayed; a position never handed out: recovered false', async () => {
    const rec = await client(a, 'cur-user', ['cur1']);
    await publish(a, update('cur1', {})).expect(202);
    const first = await rec.request('portfolio:subscribe', { portfolioId: 'cur1' });
    expect(first.position.offset).toBe(1);
    await expect(
      rec.request('portfolio:subscribe', { portfolioId: 'cur1', since: first.position }),
    ).resolves.toEqual({
      ...first,
      recovered: true,
      replayed: 0,
    });
    const ahead = { epoch: first.position.epoch, offset: 7 };
    await expect(rec.request('portfolio:subscribe', { portfolioId: 'cur1', since: ahead })).resolves.toEqual({
      ...first,
      recovered: false,
      replayed: 0,
    });
    await expect(
      rec.request('portfolio:subscribe', {
        portfolioId: 'cur1',
        since: { epoch: 'another-history', offset: 0 },
      }),
    ).resolves.toEqual({ ...first, recovered: false, replayed: 0 });
    expect(rec.publications()).toEqual([]);
  });

  it('user stream: a handshake with since replays what the user missed before user:stream says recovered; an invalid since is refused', async () => {
    const first = await client(a, 'us-user', []);
    await waitFor(() => first.seen.some((s) => s.ev === 'user:stream'), 3000);
    const intro = first.seen.find((s) => s.ev === 'user:stream')!.payload;
    expect(intro).toEqual({ stream: 'user:us-user', position: { epoch: expect.any(String), offset: 0 } });

    const trade = (i: number) => ({ event: 'trade:executed', userId: 'us-user', data: { i } });
    await publish(b, trade(0)).expect(202);
    await first.waitFor((p) => p.data.i === 0);
    const since = first.last('user:us-user')!;
    first.socket.disconnect();
    const missed: string[] = [];
    for (let i = 1; i <= 4; i++) missed.push((await publish(b, trade(i)).expect(202)).body.id as string);

    const again = await client(b, 'us-user', [], since);
    await waitFor(() => again.seen.some((s) => s.ev === 'user:stream'), 3000);
    const at = again.seen.findIndex((s) => s.ev === 'user:stream');
    expect(again.seen[at].payload).toEqual({
      stream: 'user:us-user',
      position: { epoch: since.epoch, offset: 5 },
      recovered: true,
      replayed: 4,
    });
    expect(again.seen.slice(0, at).map((s) => [s.ev, s.payload.id, s.payload.replayed])).toEqual(
      missed.map((id) => ['trade:executed', id, true]),
    );
    expectConsecutive(again.offsets('user:us-user'), 2, 5);

    // user:resume on a live connection: the same answer, events already seen may come again.
    const resumed = await again.request('user:resume', { since });
    expect(resumed).toEqual({
      ok: true,
      stream: 'user:us-user',
      position: { epoch: since.epoch, offset: 5 },
      recovered: true,
      replayed: 4,
    });

    for (const bad of [
      { epoch: 'e', offset: -1 },
      { epoch: 'has space', offset: 1 },
      { epoch: 'e', offset: 1.5 },
      { epoch: 'e', offset: '3' },
      { epoch: 'e', offset: 1, extra: true },
      'e:1',
    ]) {
      await expect(
        connectError(a.url, undefined, { auth: { token: makeToken('us-user', []), since: bad } }),
      ).resolves.toBe('invalid_since');
    }
  });

  it('subscribe with since: a portfolio the token does not allow is FORBIDDEN with nothing replayed; an invalid since is INVALID_PAYLOAD', async () => {
    for (let i = 0; i < 3; i++) await publish(a, update('secret', { i })).expect(202);
    const rec = await client(b, 'nosy', ['mine']);
    const epoch = (await rec.request('portfolio:subscribe', { portfolioId: 'mine' })).position
      .epoch as string;
    const secretEpoch = (await admin.hget(
      'websocket-server:stream:{portfolio:secret}:meta',
      'epoch',
    )) as string;
    expect(secretEpoch).toMatch(/^[0-9a-f]+$/);

    await expect(
      rec.request('portfolio:subscribe', { portfolioId: 'secret', since: { epoch: secretEpoch, offset: 0 } }),
    ).resolves.toEqual({ ok: false, error: { code: 'FORBIDDEN', message: expect.any(String) } });
    await expect(
      rec.request('user:resume', { since: { epoch, offset: 0 }, portfolioId: 'secret' }),
    ).resolves.toMatchObject({ ok: false, error: { code: 'INVALID_PAYLOAD' } });
    for (const since of [
      { epoch, offset: -1 },
      { epoch, offset: 2 ** 53 },
      { epoch: '', offset: 0 },
      { epoch: 'x'.repeat(65), offset: 0 },
      { epoch, offset: 0, more: 1 },
      { epoch },
      [epoch, 0],
      7,
    ]) {
      await expect(rec.request('portfolio:subscribe', { portfolioId: 'mine', since })).resolves.toMatchObject(
        {
          ok: false,
          error: { code: 'INVALID_PAYLOAD', message: expect.stringMatching(/since/) },
        },
      );
    }
    await expect(
      rec.request('portfolio:subscribe', { portfolioId: 'mine', sinse: { epoch, offset: 0 } }),
    ).resolves.toMatchObject({
      ok: false,
      error: { code: 'INVALID_PAYLOAD' },
    });
    await flush(a, rec, 'mine');
    expect(rec.publications().map((p) => p.portfolioId)).toEqual(['mine']);
  });

  describe('Idempotency-Key', () => {
    it('the same key twice, on two replicas: one delivery, the first answer again (same id and positions), marked Idempotent-Replayed', async () => {
      const onA = await client(a, 'idem-a', ['idem1']);
      const onB = await client(b, 'idem-b', ['idem1']);
      await onA.request('portfolio:subscribe', { portfolioId: 'idem1' });
      await onB.request('portfolio:subscribe', { portfolioId: 'idem1' });
      const body = { event: 'trade:executed', userId: 'idem-a', portfolioId: 'idem1', data: { qty: 1 } };
      const key = { 'Idempotency-Key': `order-${Math.random()}:fill/1` };

      const first = await publish(a, body, key).expect(202);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const second = await publish(b, body, key).expect(202);
      expect(second.headers['idempotent-replayed']).toBe('true');
      expect(second.body).toEqual(first.body);
      expect(first.body.positions['portfolio:idem1']).toEqual({ epoch: expect.any(String), offset: 1 });

      // A different body under the same key: 409, nothing delivered (from either replica).
      await publish(b, { ...body, data: { qty: 2 } }, key).expect(409);
      await publish(a, { ...body, data: { qty: 2 } }, key).expect(409);

      await flush(b, onA, 'idem1');
      await flush(a, onB, 'idem1');
      for (const rec of [onA, onB]) {
        expect(rec.publications().filter((p) => p.id === first.body.id)).toHaveLength(1);
        expect(rec.publications().filter((p) => p.data.qty !== undefined)).toHaveLength(1);
      }
      // The flushes are offsets 2 and 3: the repeat took no position.
      expectConsecutive(onA.offsets('portfolio:idem1'), 1, 3);
    });

    it('an invalid key (too long, a space, a control character) is a 400 naming Idempotency-Key, and nothing is delivered', async () => {
      const rec = await client(a, 'idem-bad', ['idem2']);
      await rec.request('portfolio:subscribe', { portfolioId: 'idem2' });
      for (const key of ['k'.repeat(256), 'two words', 'tab\there', 'é']) {
        const res = await publish(b, update('idem2', { bad: key }), { 'Idempotency-Key': key });
        expect(res.status).toBe(400);
        expect(JSON.stringify(res.body.errors)).toContain('Idempotency-Key');
      }
      // 255 visible characters is the largest key allowed.
      await publish(b, update('idem2', { ok: 1 }), { 'Idempotency-Key': 'k'.repeat(255) }).expect(202);
      await flush(a, rec, 'idem2');
      expect(rec.publications().map((p) => p.data)).toEqual([{ ok: 1 }, { tag: expect.any(String) }]);
      expectConsecutive(rec.offsets('portfolio:idem2'), 1, 2);
    });
  });

  it('degraded: a publication Redis handed to fewer subscriptions than live replicas says so; the replica that missed it can replay it', async () => {
    const STREAM = 'portfolio:deg1';
    await waitFor(() => a.app.get(ClusterPeers).liveReplicas === 2, 3000);
    const onA = await client(a, 'deg-a', ['deg1']);
    const onB = await client(b, 'deg-b', ['deg1']);
    await onA.request('portfolio:subscribe', { portfolioId: 'deg1' });
    await onB.request('portfolio:subscribe', { portfolioId: 'deg1' });
    const ok = await publish(a, update('deg1', { n: 1 })).expect(202);
    expect(ok.body.degraded).toBeUndefined();
    await waitFor(() => onB.offsets(STREAM).length === 1, 3000);
    const since = onB.last(STREAM)!;

    // B's subscriber connection goes, and cannot come back while Redis refuses new connections: deterministic.
    const clients = String(await admin.call('CLIENT', 'LIST'));
    const subOfB = clients
      .split('\n')
      .find((line) => line.includes(' name=websocket-server:socket.io-sub:streams-b '));
    expect(subOfB).toBeDefined();
    const connected = Number(((await admin.info('clients')).match(/connected_clients:(\d+)/) ?? [])[1]);
    await admin.config('SET', 'maxclients', String(connected - 1));
    try {
      await admin.call('CLIENT', 'KILL', 'ID', /\bid=(\d+)/.exec(subOfB ?? '')![1]);
      await waitFor(() => b.app.get(StreamDelivery).listening === false, 3000);
      const missed = await publish(a, update('deg1', { n: 2 })).expect(202);
      expect(missed.body).toMatchObject({ degraded: true, positions: { [STREAM]: { offset: 2 } } });
      await onA.waitFor((p) => p.data.n === 2);
      // B, not listening, delivers its own publications itself and says degraded too.
      const own = await publish(b, update('deg1', { n: 3 })).expect(202);
      expect(own.body).toMatchObject({ degraded: true, positions: { [STREAM]: { offset: 3 } } });
      await onB.waitFor((p) => p.data.n === 3);
      expect(onB.offsets(STREAM)).toEqual([1, 3]);
    } finally {
      await admin.config('SET', 'maxclients', '10000');
    }
    await waitFor(() => b.app.get(StreamDelivery).listening, 5000, 50);
    await waitFor(
      async () => (await publish(a, update('deg1', { probe: true }))).body.degraded === undefined,
      5000,
      100,
    );
    const ack = await onB.request('portfolio:subscribe', { portfolioId: 'deg1', since });
    expect(ack).toMatchObject({ recovered: true });
    const replayed = onB.publications().filter((p) => p.replayed === true);
    expect(replayed[0]).toMatchObject({ data: { n: 2 }, position: { offset: 2 } });
  });

  it('Redis FLUSHALL: a new epoch; a resume with the old since is not recovered; the next publication is offset 1 of the new epoch', async () => {
    const rec = await client(a, 'flush-user', ['fl1']);
    await rec.request('portfolio:subscribe', { portfolioId: 'fl1' });
    for (let i = 0; i < 3; i++) await publish(b, update('fl1', { i })).expect(202);
    await waitFor(() => rec.offsets('portfolio:fl1').length === 3, 3000);
    const old = rec.last('portfolio:fl1')!;
    rec.socket.disconnect();

    await admin.flushall();
    const again = await client(b, 'flush-user', ['fl1']);
    const ack = await again.request('portfolio:subscribe', { portfolioId: 'fl1', since: old });
    expect(ack).toEqual({
      ok: true,
      portfolioId: 'fl1',
      stream: 'portfolio:fl1',
      position: { epoch: expect.any(String), offset: 0 },
      recovered: false,
      replayed: 0,
    });
    expect(ack.position.epoch).not.toBe(old.epoch);
    const next = await publish(a, update('fl1', { after: 'flush' })).expect(202);
    expect(next.body.positions['portfolio:fl1']).toEqual({ epoch: ack.position.epoch, offset: 1 });
    const got = await again.waitFor((p) => p.data.after === 'flush');
    expect(got.position).toEqual({ epoch: ack.position.epoch, offset: 1 });
    expect(again.publications()).toHaveLength(1);
  });

  it('Redis restart (empty): a new epoch even for a publish that comes first; the old since is not recovered', async () => {
    const rec = await client(a, 'rst-user', ['rst1']);
    await rec.request('portfolio:subscribe', { portfolioId: 'rst1' });
    for (let i = 0; i < 2; i++) await publish(a, update('rst1', { i })).expect(202);
    await waitFor(() => rec.offsets('portfolio:rst1').length === 2, 3000);
    const old = rec.last('portfolio:rst1')!;

    await redis.restart();
    // Both replicas deliver across again (their subscriber connections are back) before the checks.
    await waitFor(
      async () => {
        const res = await publish(b, update('rst1', { probe: true }));
        return res.status === 202 && res.body.degraded === undefined;
      },
      10_000,
      100,
    );
    const probe = await rec.waitFor((p) => p.data.probe === true && p.positions !== undefined);
    expect(probe.position.epoch).not.toBe(old.epoch);
    expect(probe.position.offset).toBe(1);

    const again = await client(b, 'rst-user', ['rst1']);
    const ack = await again.request('portfolio:subscribe', { portfolioId: 'rst1', since: old });
    expect(ack).toMatchObject({ ok: true, recovered: false, replayed: 0 });
    expect(ack.position.epoch).toBe(probe.position.epoch);
    expect(again.publications()).toEqual([]);
  }, 30_000);
});

describe('Stream history limits (e2e)', () => {
  const redis = new RedisTestServer();
  let app: TestApp;
  const sockets: Socket[] = [];
  const HISTORY = 5;
  const TTL_MS = 1000;

  beforeAll(async () => {
    await redis.start();
    app = await createTestApp({
      REDIS_URL: redis.url,
      PUBLISH_TOKEN,
      WS_TRANSPORTS: 'websocket',
      STREAM_HISTORY_SIZE: String(HISTORY),
      STREAM_HISTORY_TTL_MS: String(TTL_MS),
    });
  }, 30_000);
  afterEach(() => closeAll(sockets));
  afterAll(async () => {
    closeAll(sockets);
    await app?.close();
    await redis.stop();
  });

  const publishN = async (portfolioId: string, n: number) => {
    for (let i = 0; i < n; i++)
      await postEvent(app.url, PUBLISH_TOKEN, { event: 'portfolio:update', portfolioId, data: { i } }).expect(
        202,
      );
  };
  const recorder = async (portfolios: string[]) => {
    const socket = createClient(app.url, makeToken('lim-user', portfolios));
    sockets.push(socket);
    const rec = new StreamRecorder(socket);
    await connect(socket);
    return rec;
  };

  it('past the history size: recovered false with the current position, nothing replayed; exactly the size: recovered', async () => {
    const rec = await recorder(['lim1']);
    const start = (await rec.request('portfolio:subscribe', { portfolioId: 'lim1' })).position as Position;
    await publishN('lim1', HISTORY + 1);
    const past = await rec.request('portfolio:subscribe', { portfolioId: 'lim1', since: start });
    expect(past).toEqual({
      ok: true,
      portfolioId: 'lim1',
      stream: 'portfolio:lim1',
      position: { epoch: start.epoch, offset: HISTORY + 1 },
      recovered: false,
      replayed: 0,
    });
    const fresh = await recorder(['lim1']);
    const exact = await fresh.request('portfolio:subscribe', {
      portfolioId: 'lim1',
      since: { epoch: start.epoch, offset: 1 },
    });
    expect(exact).toMatchObject({ recovered: true, replayed: HISTORY });
    expect(fresh.publications().every((p) => p.replayed === true)).toBe(true);
    expectConsecutive(fresh.offsets('portfolio:lim1'), 2, HISTORY + 1);
    expect(rec.publications().filter((p) => p.replayed)).toEqual([]);
  });

  it('past the history TTL: recovered false with the current position (the epoch is kept), nothing replayed', async () => {
    const rec = await recorder(['ttl1']);
    await rec.request('portfolio:subscribe', { portfolioId: 'ttl1' });
    await publishN('ttl1', 2);
    await waitFor(() => rec.offsets('portfolio:ttl1').length === 2, 3000);
    const since = rec.publications()[0].position as Position;
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      await waitFor(
        async () => (await admin.exists('websocket-server:stream:{portfolio:ttl1}:log')) === 0,
        TTL_MS + 2000,
        50,
      );
    } finally {
      admin.disconnect();
    }
    const fresh = await recorder(['ttl1']);
    await expect(fresh.request('portfolio:subscribe', { portfolioId: 'ttl1', since })).resolves.toEqual({
      ok: true,
      portfolioId: 'ttl1',
      stream: 'portfolio:ttl1',
      position: { epoch: since.epoch, offset: 2 },
      recovered: false,
      replayed: 0,
    });
    expect(fresh.publications()).toEqual([]);
  });
});

describe('A publication in flight when Redis dies (e2e)', () => {
  const redis = new RedisTestServer();
  let app: TestApp;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    await redis.start();
    app = await createTestApp({ REDIS_URL: redis.url, PUBLISH_TOKEN, WS_TRANSPORTS: 'websocket' });
  }, 30_000);
  afterAll(async () => {
    closeAll(sockets);
    await app?.close();
    await redis.stop();
  });

  it('is answered and delivered at once (unpositioned), not re-sent to the next Redis after publications made since', async () => {
    const socket = createClient(app.url, makeToken('inflight', ['fly']));
    sockets.push(socket);
    const rec = new StreamRecorder(socket);
    await connect(socket);
    await rec.request('portfolio:subscribe', { portfolioId: 'fly' });
    const post = (data: object) =>
      postEvent(app.url, PUBLISH_TOKEN, { event: 'portfolio:update', portfolioId: 'fly', data });
    await post({ n: 0 }).expect(202);
    await rec.waitFor((p) => p.data.n === 0);

    // The script of n=1 is on the wire when Redis dies: a frozen Redis holds it, then is killed.
    redis.freeze();
    const first = post({ n: 1 }).then((res) => ({ res, at: Date.now() }));
    await sleep(300);
    const killedAt = Date.now();
    await redis.kill(true);
    // n=2 while Redis is gone, and Redis back before the client's first reconnect attempt (100 ms): the moment
    // a re-sent n=1 would land after n=2.
    await post({ n: 2 }).expect(202);
    await redis.start(redis.port);
    const { res, at } = await first;
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ degraded: true });
    expect(res.body.positions).toEqual({});
    expect(at - killedAt).toBeLessThan(1000);
    await waitFor(async () => (await post({ probe: true })).body.degraded === undefined, 10_000, 100);
    await rec.waitFor((p) => p.data.probe === true && p.positions !== undefined);
    const order = rec.publications().map((p) => p.data.n ?? 'probe');
    expect(order.filter((n) => n !== 'probe')).toEqual([0, 1, 2]);
  }, 30_000);
});
