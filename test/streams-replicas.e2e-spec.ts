import type { Socket } from 'socket.io-client';
import request from 'supertest';
import { RedisTestServer } from './utils/redis-server';
import { Replica } from './utils/replica';
import { closeAll, connect, createClient, makeToken, sleep, waitFor } from './utils/socket-client';
import { expectConsecutive, type Position, postEvent, StreamRecorder } from './utils/stream-client';

const PUBLISH_TOKEN = 'replicas-publish-token-0123456789';

/** What a replica process must never print: it would mean a promise or an exception nobody handled. */
const PROCESS_ERRORS =
  /unhandled ?rejection|uncaught ?exception|UnhandledPromiseRejection|triggerUncaughtException/i;

/**
 * Positions and resume with the real server as separate processes (src/main.ts: its own event loop, its signal
 * handlers) on one real redis-server: the seam between replay and live under a continuous publisher, Redis
 * dying under traffic, and a graceful shutdown.
 */
describe('Stream positions with replica processes (e2e)', () => {
  const redis = new RedisTestServer();
  let a: Replica;
  let b: Replica;
  const sockets: Socket[] = [];
  const replicas: Replica[] = [];

  const env = (id: string, extra: Record<string, string> = {}) => ({
    REDIS_URL: redis.url,
    PUBLISH_TOKEN,
    RAILWAY_REPLICA_ID: id,
    CLUSTER_HEARTBEAT_MS: '300',
    HEALTH_CHECK_TIMEOUT_MS: '500',
    WS_TRANSPORTS: 'websocket',
    WS_RATE_LIMIT: '1000',
    WS_RATE_BURST: '1000',
    ...extra,
  });
  const update = (portfolioId: string, data: object) => ({ event: 'portfolio:update', portfolioId, data });
  const publish = (r: Replica, body: object) => postEvent(r.url, PUBLISH_TOKEN, body, {}, 5000);

  async function client(r: Replica, userId: string, portfolios: string[]): Promise<StreamRecorder> {
    const socket = createClient(r.url, makeToken(userId, portfolios));
    sockets.push(socket);
    const rec = new StreamRecorder(socket);
    await connect(socket);
    return rec;
  }

  const expectHealthyProcesses = () => {
    for (const r of replicas) {
      expect({ exit: r.proc.exitCode, signal: r.proc.signalCode }).toEqual({ exit: null, signal: null });
      expect(r.output).not.toMatch(PROCESS_ERRORS);
    }
  };

  beforeAll(async () => {
    await redis.start();
    [a, b] = await Promise.all([Replica.start(env('proc-a')), Replica.start(env('proc-b'))]);
    replicas.push(a, b);
  }, 60_000);
  afterEach(() => closeAll(sockets));
  afterAll(async () => {
    closeAll(sockets);
    await Promise.all(replicas.map((r) => r.stop()));
    await redis.stop();
  });

  it('the seam: clients resuming at random moments while the other replica publishes get strictly consecutive offsets from since+1, no gap, no duplicate', async () => {
    const STREAM = 'portfolio:seam';
    const TOTAL = 300;
    const CLIENTS = 30;
    // Everyone's resume points come from an observer that has seen the stream from its start.
    const observer = await client(a, 'seam-observer', ['seam']);
    const start = await observer.request('portfolio:subscribe', { portfolioId: 'seam' });
    expect(start.position.offset).toBe(0);

    let published = 0;
    const publisher = (async () => {
      for (let i = 0; i < TOTAL; i++) {
        await publish(b, update('seam', { i })).expect(202);
        published++;
        await sleep(2);
      }
    })();

    const joined: Array<{ rec: StreamRecorder; since: Position; ack: Promise<any> }> = [];
    const joiners = Array.from({ length: CLIENTS }, async (_, n) => {
      // A random moment while the publisher runs; resume from a little behind what the observer has seen.
      await waitFor(() => published >= Math.floor(Math.random() * (TOTAL - 40)) + 5, 20_000, 5);
      const rec = await client(n % 2 ? a : b, `seam-${n}`, ['seam']);
      const seen = observer.last(STREAM)!;
      const since = { epoch: seen.epoch, offset: Math.max(0, seen.offset - Math.floor(Math.random() * 12)) };
      const entry = { rec, since, ack: rec.request('portfolio:subscribe', { portfolioId: 'seam', since }) };
      joined.push(entry);
      await entry.ack;
    });
    await Promise.all([publisher, ...joiners]);

    await waitFor(() => joined.every((j) => j.rec.last(STREAM)?.offset === TOTAL), 10_000);
    expect(observer.offsets(STREAM)).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    let replayedTotal = 0;
    for (const { rec, since, ack } of joined) {
      const answer = await ack;
      expect(answer).toMatchObject({ ok: true, recovered: true, position: { epoch: since.epoch } });
      const offsets = rec.offsets(STREAM);
      // The whole sequence first, so a failure prints it.
      expect({ since: since.offset, offsets }).toEqual({
        since: since.offset,
        offsets: Array.from({ length: TOTAL - since.offset }, (_, i) => since.offset + 1 + i),
      });
      const at = rec.seen.findIndex((s) => s.ev === 'ack:portfolio:subscribe');
      const replayed = rec.publications().filter((p) => p.replayed === true);
      expect(replayed).toHaveLength(answer.replayed);
      expect(rec.seen.slice(0, at).filter((s) => s.payload?.replayed === true)).toHaveLength(answer.replayed);
      expect(answer.position.offset).toBe(since.offset + answer.replayed);
      replayedTotal += answer.replayed;
    }
    expect(replayedTotal).toBeGreaterThan(0);
    expectHealthyProcesses();
  }, 60_000);

  it('Redis killed while both replicas publish: no crash, degraded answers with no positions, local unpositioned delivery; afterwards no resume across the outage is recovered', async () => {
    const STREAM = 'portfolio:kill';
    const onA = await client(a, 'kill-a', ['kill']);
    const onB = await client(b, 'kill-b', ['kill']);
    await onA.request('portfolio:subscribe', { portfolioId: 'kill' });
    await onB.request('portfolio:subscribe', { portfolioId: 'kill' });
    for (let i = 0; i < 3; i++) await publish(i % 2 ? a : b, update('kill', { before: i })).expect(202);
    await waitFor(() => onA.offsets(STREAM).length === 3 && onB.offsets(STREAM).length === 3, 3000);
    const before = onB.last(STREAM)!;

    const answers: Array<{ from: 'a' | 'b'; body: any }> = [];
    let running = true;
    const traffic = (async () => {
      for (let i = 0; running && i < 1000; i++) {
        for (const [from, r] of [
          ['a', a],
          ['b', b],
        ] as const) {
          const res = await publish(r, update('kill', { from, i }));
          expect(res.status).toBe(202);
          answers.push({ from, body: res.body });
        }
        await sleep(20);
      }
    })();
    try {
      await waitFor(() => answers.length >= 6, 5000);
      await redis.kill();
      const outage = (from: string) => answers.filter((x) => x.from === from && x.body.degraded === true);
      await waitFor(() => outage('a').length >= 3 && outage('b').length >= 3, 5000);

      // During the outage: delivered here only, marked unpositioned, and the answer says so.
      for (const x of [...outage('a'), ...outage('b')]) expect(x.body.positions).toEqual({});
      await waitFor(() => onA.publications().some((p) => p.unpositioned === true), 3000);
      await waitFor(() => onB.publications().some((p) => p.unpositioned === true), 3000);
      for (const [rec, from] of [
        [onA, 'a'],
        [onB, 'b'],
      ] as const) {
        const local = rec.publications().filter((p) => p.unpositioned === true);
        for (const p of local) {
          expect(p).toEqual({
            portfolioId: 'kill',
            data: { from, i: expect.any(Number) },
            timestamp: expect.any(String),
            id: expect.any(String),
            unpositioned: true,
          });
        }
      }
      // A resume while Redis is down is never "recovered".
      const during = await client(b, 'kill-during', ['kill']);
      await expect(
        during.request('portfolio:subscribe', { portfolioId: 'kill', since: before }),
      ).resolves.toMatchObject({ ok: true, recovered: false, replayed: 0 });

      await redis.start(redis.port);
      await waitFor(
        () => {
          const last = answers.slice(-4);
          return last.length === 4 && last.every((x) => x.body.degraded === undefined);
        },
        15_000,
        50,
      );
    } finally {
      running = false;
      await traffic;
    }

    // Every answer without `degraded` has a position; every one with no position says `degraded`.
    for (const { body } of answers) {
      if (Object.keys(body.positions).length === 0) expect(body.degraded).toBe(true);
      if (body.degraded === undefined) expect(body.positions[STREAM]).toBeDefined();
    }
    // Within each epoch the offsets handed out are 1..n with no hole and no repeat.
    const byEpoch = new Map<string, number[]>();
    for (const { body } of answers) {
      const p = body.positions[STREAM] as Position | undefined;
      if (p !== undefined) byEpoch.set(p.epoch, [...(byEpoch.get(p.epoch) ?? []), p.offset]);
    }
    for (const [epoch, offsets] of byEpoch) {
      const sorted = [...offsets].sort((x, y) => x - y);
      const first = epoch === before.epoch ? 4 : 1;
      expectConsecutive(sorted, first, first + sorted.length - 1);
    }

    for (const r of [a, b]) {
      const late = await client(r, `kill-late-${r.port}`, ['kill']);
      const ack = await late.request('portfolio:subscribe', { portfolioId: 'kill', since: before });
      expect(ack).toMatchObject({ ok: true, recovered: false, replayed: 0 });
      expect(ack.position.epoch).not.toBe(before.epoch);
      expect(late.publications().filter((p) => p.replayed)).toEqual([]);
    }
    expectHealthyProcesses();
  }, 60_000);

  it('Redis frozen (SIGSTOP) while both replicas publish: no answer without degraded is late, positioned events stay in order, no resume across the freeze is recovered', async () => {
    const STREAM = 'portfolio:ice';
    const onA = await client(a, 'ice-a', ['ice']);
    const onB = await client(b, 'ice-b', ['ice']);
    await onA.request('portfolio:subscribe', { portfolioId: 'ice' });
    await onB.request('portfolio:subscribe', { portfolioId: 'ice' });
    await publish(a, update('ice', { before: true })).expect(202);
    await waitFor(() => onA.offsets(STREAM).length === 1 && onB.offsets(STREAM).length === 1, 3000);
    const before = onB.last(STREAM)!;
    const arrivals = new Map<string, number>();
    for (const rec of [onA, onB])
      rec.socket.onAny((_ev, p: { id?: string }) => {
        if (typeof p?.id === 'string' && !arrivals.has(`${rec.socket.id}/${p.id}`))
          arrivals.set(`${rec.socket.id}/${p.id}`, Date.now());
      });

    const answers: Array<{ from: 'a' | 'b'; body: any; answeredAt: number }> = [];
    let running = true;
    const loop = (from: 'a' | 'b', r: Replica) =>
      (async () => {
        for (let i = 0; running && i < 500; i++) {
          const res = await publish(r, update('ice', { from, i }));
          expect(res.status).toBe(202);
          answers.push({ from, body: res.body, answeredAt: Date.now() });
          await sleep(20);
        }
      })();
    const traffic = Promise.all([loop('a', a), loop('b', b)]);
    try {
      await waitFor(() => answers.length >= 6, 5000);
      redis.freeze();
      await waitFor(() => answers.filter((x) => x.body.degraded === true).length >= 4, 8000);
      await sleep(1000);
      redis.thaw();
      await waitFor(
        () => {
          const last = answers.slice(-4);
          return last.length === 4 && last.every((x) => x.body.degraded === undefined);
        },
        15_000,
        50,
      );
    } finally {
      running = false;
      await traffic;
    }
    // Everything Redis ran late has been broadcast once the replicas' next publications arrive.
    const lastIds = answers.slice(-2).map((x) => x.body.id as string);
    await waitFor(
      () => [onA, onB].every((rec) => lastIds.every((id) => rec.publications().some((p) => p.id === id))),
      5000,
    );
    const problems: string[] = [];
    for (const rec of [onA, onB]) {
      const all = rec.publications();
      // Positioned events: within an epoch, strictly increasing offsets (late ones are never out of order).
      const positioned = all.filter((p) => p.positions?.[STREAM] !== undefined);
      for (let i = 1; i < positioned.length; i++) {
        const [prev, cur] = [positioned[i - 1].positions[STREAM], positioned[i].positions[STREAM]];
        if (cur.epoch === prev.epoch && cur.offset <= prev.offset)
          problems.push(`${rec.socket.id}: offset ${cur.offset} after ${prev.offset} in one epoch`);
      }
      // A publication whose script timed out was delivered here unpositioned; Redis ran the script when it
      // thawed, so a positioned copy with the same id may follow (the reason unpositioned events carry an id).
      // Nothing else may ever arrive twice.
      const firstSeen = new Map<string, any>();
      for (const p of all) {
        const prev = firstSeen.get(p.id);
        if (prev === undefined) firstSeen.set(p.id, p);
        else if (!(prev.unpositioned === true && p.positions?.[STREAM] !== undefined))
          problems.push(`${rec.socket.id}: ${p.id} delivered twice`);
      }
    }
    const other = (from: string) => (from === 'a' ? onB : onA);
    for (const x of answers) {
      if (x.body.degraded === true) continue;
      const at = arrivals.get(`${other(x.from).socket.id}/${x.body.id}`);
      if (at === undefined || at > x.answeredAt + 1000)
        problems.push(
          `answer ${x.body.id} without degraded, other replica ${at === undefined ? 'never' : at - x.answeredAt + 'ms later'}`,
        );
    }
    for (const r of [a, b]) {
      const late = await client(r, `ice-late-${r.port}`, ['ice']);
      const ack = await late.request('portfolio:subscribe', { portfolioId: 'ice', since: before });
      if (ack.recovered === true) problems.push(`resume on ${r.port} across the freeze said recovered`);
    }
    expect(problems).toEqual([]);
    expectHealthyProcesses();
  }, 60_000);

  it('graceful shutdown: clients get server:shutdown {reconnect: true} before the disconnect; /health stays 200 (draining) while /health/ready is 503; a client resumes on the other replica without a gap', async () => {
    const STREAM = 'portfolio:bye';
    const c = await Replica.start(env('proc-c', { SHUTDOWN_DRAIN_MS: '1500', SHUTDOWN_TIMEOUT_MS: '8000' }));
    replicas.push(c);
    const leaving = await Promise.all([0, 1, 2].map((i) => client(c, `bye-${i}`, ['bye'])));
    for (const rec of leaving) {
      await rec.request('portfolio:subscribe', { portfolioId: 'bye' });
      rec.socket.on('disconnect', (reason) => rec.seen.push({ ev: 'disconnect', payload: reason }));
    }

    let published = 0;
    let running = true;
    const publisher = (async () => {
      for (let i = 0; running && i < 500; i++) {
        await publish(b, update('bye', { i })).expect(202);
        published++;
        await sleep(20);
      }
    })();
    try {
      await waitFor(() => leaving.every((r) => r.offsets(STREAM).length >= 5), 5000);
      c.proc.kill('SIGTERM');
      await waitFor(
        async () => (await request(c.url).get('/health/ready').timeout(1000)).status === 503,
        1000,
        20,
      );
      const live = await request(c.url).get('/health').timeout(1000);
      expect({ status: live.status, draining: live.body.draining }).toEqual({ status: 200, draining: true });
      // Still serving during the drain.
      expect(leaving.every((r) => r.socket.connected)).toBe(true);

      await waitFor(() => leaving.every((r) => r.seen.some((s) => s.ev === 'disconnect')), 8000);
      await expect(c.exited).resolves.toEqual({ code: 0, signal: null });
      for (const rec of leaving) {
        const tail = rec.seen.filter((s) => !['portfolio:update', 'trade:executed'].includes(s.ev)).slice(-2);
        expect(tail).toEqual([
          { ev: 'server:shutdown', payload: { reconnect: true } },
          { ev: 'disconnect', payload: 'transport close' },
        ]);
      }

      // Reconnect "at once" to the other replica and resume: everything after the last seen, once, in order.
      const rec = leaving[0];
      const since = rec.last(STREAM)!;
      const next = await client(a, 'bye-0', ['bye']);
      const ack = await next.request('portfolio:subscribe', { portfolioId: 'bye', since });
      expect(ack).toMatchObject({ ok: true, recovered: true });
      const target = published + 3;
      await waitFor(() => (next.last(STREAM)?.offset ?? 0) >= target, 5000);
      const all = [...rec.offsets(STREAM), ...next.offsets(STREAM)];
      expectConsecutive(all, 1, all.length);
    } finally {
      running = false;
      await publisher;
    }
    expect(c.output).not.toMatch(PROCESS_ERRORS);
  }, 60_000);
});
