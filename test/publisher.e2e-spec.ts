import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import type { Socket } from 'socket.io-client';
import { IdempotencyConflictError, StreamPublisher } from '../packages/publisher/src/index';
import { RedisTestServer } from './utils/redis-server';
import { ROOT } from './utils/server-process';
import { closeAll, connect, createClient, makeToken, waitFor } from './utils/socket-client';
import { expectConsecutive, postEvent, StreamRecorder } from './utils/stream-client';
import { createTestApp, TestApp } from './utils/test-app';

const PUBLISH_TOKEN = 'publisher-publish-token-0123456789';

/**
 * packages/publisher against a real Redis and two replicas: it takes the same atomic step as POST /events (one
 * stream, one offset sequence, one idempotency store), and its copy of the protocol is the server's.
 */
describe('StreamPublisher (packages/publisher) (e2e)', () => {
  const redis = new RedisTestServer();
  let a: TestApp;
  let b: TestApp;
  let conn: Redis;
  let publisher: StreamPublisher;
  const sockets: Socket[] = [];

  const env = (id: string) => ({
    REDIS_URL: redis.url,
    PUBLISH_TOKEN,
    RAILWAY_REPLICA_ID: id,
    WS_TRANSPORTS: 'websocket',
  });
  const post = (app: TestApp, body: object, headers: Record<string, string> = {}) =>
    postEvent(app.url, PUBLISH_TOKEN, body, headers);

  async function client(app: TestApp, userId: string, portfolios: string[]): Promise<StreamRecorder> {
    const socket = createClient(app.url, makeToken(userId, portfolios));
    sockets.push(socket);
    const rec = new StreamRecorder(socket);
    await connect(socket);
    return rec;
  }

  beforeAll(async () => {
    await redis.start();
    [a, b] = await Promise.all([createTestApp(env('pub-a')), createTestApp(env('pub-b'))]);
    conn = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    publisher = new StreamPublisher(conn);
  }, 30_000);
  afterEach(() => closeAll(sockets));
  afterAll(async () => {
    closeAll(sockets);
    conn?.disconnect();
    await a?.close();
    await b?.close();
    await redis.stop();
  });

  it('interleaved with POST /events on both replicas: one offset sequence, every client on both replicas gets each publication once, in order', async () => {
    const STREAM = 'portfolio:lib1';
    const onA = await client(a, 'lib-a', ['lib1']);
    const onB = await client(b, 'lib-b', ['lib1']);
    await onA.request('portfolio:subscribe', { portfolioId: 'lib1' });
    await onB.request('portfolio:subscribe', { portfolioId: 'lib1' });

    const ids: string[] = [];
    const offsets: number[] = [];
    for (let i = 0; i < 12; i++) {
      const body = { event: 'portfolio:update' as const, portfolioId: 'lib1', data: { i } };
      if (i % 3 === 0) {
        const r = await publisher.publish(body);
        expect(r).toMatchObject({ repeated: false, receivers: 2 });
        ids.push(r.id);
        offsets.push(r.positions[STREAM].offset);
      } else {
        const res = await post(i % 3 === 1 ? a : b, body).expect(202);
        expect(res.body.degraded).toBeUndefined();
        ids.push(res.body.id);
        offsets.push(res.body.positions[STREAM].offset);
      }
    }
    expectConsecutive(offsets, 1, 12);
    await waitFor(() => onA.publications().length === 12 && onB.publications().length === 12, 5000);
    for (const rec of [onA, onB]) {
      expect(rec.publications().map((p) => p.id)).toEqual(ids);
      expectConsecutive(rec.offsets(STREAM), 1, 12);
      expect(new Set(rec.publications().map((p) => p.position.epoch)).size).toBe(1);
    }
    // What the library published looks, to a client, like what POST /events published.
    const fromLib = onA.publications()[0];
    const fromPost = onA.publications()[1];
    expect(Object.keys(fromLib).sort()).toEqual(Object.keys(fromPost).sort());
    expect(fromLib).toEqual({
      portfolioId: 'lib1',
      data: { i: 0 },
      timestamp: expect.any(String),
      id: ids[0],
      stream: STREAM,
      position: { epoch: fromPost.position.epoch, offset: 1 },
      positions: { [STREAM]: { epoch: fromPost.position.epoch, offset: 1 } },
    });

    // A trade to a user and a portfolio: a position in both, one event for a socket in both rooms.
    const trade = await publisher.publish({
      event: 'trade:executed',
      userId: 'lib-a',
      portfolioId: 'lib1',
      data: { qty: 5 },
    });
    expect(Object.keys(trade.positions)).toEqual(['user:lib-a', STREAM]);
    expect(trade.positions[STREAM].offset).toBe(13);
    await waitFor(() => onB.publications().length === 13, 3000);
    await onA.waitFor((p) => p.id === trade.id);
    expect(onA.publications().filter((p) => p.id === trade.id)).toHaveLength(1);

    // A resume replays library and HTTP publications alike.
    const late = await client(b, 'lib-late', ['lib1']);
    const ack = await late.request('portfolio:subscribe', {
      portfolioId: 'lib1',
      since: { epoch: fromPost.position.epoch, offset: 0 },
    });
    expect(ack).toMatchObject({ recovered: true, replayed: 13 });
    expect(late.publications().map((p) => p.id)).toEqual([...ids, trade.id]);
  });

  it('idempotency is shared with POST /events: a key first used by the library is a repeat over HTTP, and the other way round', async () => {
    const rec = await client(a, 'lib-idem', ['lib2']);
    await rec.request('portfolio:subscribe', { portfolioId: 'lib2' });
    const body = {
      event: 'trade:executed' as const,
      portfolioId: 'lib2',
      userId: 'lib-idem',
      data: { px: 101.5 },
    };

    const keyLib = `lib-first-${Math.random()}`;
    const first = await publisher.publish(body, { idempotencyKey: keyLib });
    expect(first.repeated).toBe(false);
    const overHttp = await post(b, body, { 'Idempotency-Key': keyLib }).expect(202);
    expect(overHttp.headers['idempotent-replayed']).toBe('true');
    expect({ id: overHttp.body.id, positions: overHttp.body.positions }).toEqual({
      id: first.id,
      positions: first.positions,
    });
    await expect(publisher.publish(body, { idempotencyKey: keyLib })).resolves.toMatchObject({
      repeated: true,
      id: first.id,
      positions: first.positions,
    });
    await post(a, { ...body, data: { px: 1 } }, { 'Idempotency-Key': keyLib }).expect(409);

    const keyHttp = `http-first-${Math.random()}`;
    const viaPost = await post(a, body, { 'Idempotency-Key': keyHttp }).expect(202);
    await expect(publisher.publish(body, { idempotencyKey: keyHttp })).resolves.toEqual({
      id: viaPost.body.id,
      positions: viaPost.body.positions,
      receivers: 0,
      repeated: true,
    });
    await expect(
      publisher.publish({ ...body, data: { px: 2 } }, { idempotencyKey: keyHttp }),
    ).rejects.toBeInstanceOf(IdempotencyConflictError);
    await expect(publisher.publish(body, { idempotencyKey: 'has space' })).rejects.toThrow(/idempotencyKey/);

    // Two publications in all, each delivered once (a trade to the user and the portfolio: one event each).
    const marker = await publisher.publish({
      event: 'portfolio:update',
      portfolioId: 'lib2',
      data: { end: true },
    });
    await rec.waitFor((p) => p.id === marker.id);
    expect(rec.publications().map((p) => p.id)).toEqual([first.id, viaPost.body.id, marker.id]);
    expectConsecutive(rec.offsets('portfolio:lib2'), 1, 3);
  });
});

describe('packages/publisher build and protocol copy (e2e)', () => {
  it('the generated protocol copy matches the server’s, and the check fails when it does not', () => {
    execFileSync(process.execPath, ['scripts/sync-publisher-protocol.js', '--check'], {
      cwd: ROOT,
      stdio: 'pipe',
    });

    // The same script on a copy of the tree whose server protocol has drifted.
    const dir = mkdtempSync(join(tmpdir(), 'publisher-sync-'));
    try {
      for (const rel of [
        'scripts/sync-publisher-protocol.js',
        'src/streams/stream-protocol.ts',
        'packages/publisher/src/stream-protocol.ts',
      ]) {
        mkdirSync(join(dir, rel, '..'), { recursive: true });
        cpSync(join(ROOT, rel), join(dir, rel));
      }
      const source = join(dir, 'src/streams/stream-protocol.ts');
      writeFileSync(source, readFileSync(source, 'utf8').replace("redis.call('XADD'", "redis.call('XADD' "));
      const drifted = spawnSync(process.execPath, ['scripts/sync-publisher-protocol.js', '--check'], {
        cwd: dir,
      });
      expect(drifted.status).toBe(1);
      expect(drifted.stderr.toString()).toMatch(/differs/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('npm run build:packages builds the library with its declarations', () => {
    const dist = join(ROOT, 'packages/publisher/dist');
    rmSync(dist, { recursive: true, force: true });
    execFileSync('npm', ['run', 'build:packages'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
    for (const f of ['index.js', 'index.d.ts', 'stream-protocol.js'])
      expect(existsSync(join(dist, f))).toBe(true);
    const built = spawnSync(
      process.execPath,
      [
        '-e',
        "const m = require('./packages/publisher/dist'); process.stdout.write(typeof m.StreamPublisher)",
      ],
      { cwd: ROOT },
    );
    expect(built.stdout.toString()).toBe('function');
  }, 120_000);
});
