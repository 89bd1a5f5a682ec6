import type { Socket } from 'socket.io-client';
import type { StreamPosition } from '../packages/client/src';
import {
  allReached,
  compareWithHistory,
  lastPosition,
  type Publication,
  Publisher,
  ReadinessWatch,
  RecordingClient,
  ServerReplica,
  truthOf,
} from './utils/library-harness';
import { RedisTestServer } from './utils/redis-server';
import { ensureBuilt } from './utils/server-process';
import { connectClient, emitAck, sleep, waitFor } from './utils/socket-client';
import { TcpProxy } from './utils/tcp-proxy';

const PUBLISH_TOKEN = 'client-faults-publish-token-0123456789';
const HISTORY_SIZE = 20;

/**
 * The client library (packages/client) when the server side fails: history too short for an outage, a frozen
 * Redis, a replica redeployed under its clients. Two built server processes on one real redis-server.
 */
describe('Client library under server faults (e2e)', () => {
  const redis = new RedisTestServer();
  let a: ServerReplica;
  let b: ServerReplica;
  const proxies: TcpProxy[] = [];
  const clients: RecordingClient[] = [];
  const sockets: Socket[] = [];

  const env = () => ({
    REDIS_URL: redis.url,
    PUBLISH_TOKEN,
    SERVICE_NAME: 'client-faults-e2e',
    STREAM_HISTORY_SIZE: String(HISTORY_SIZE),
    CLUSTER_HEARTBEAT_MS: '300',
    HEALTH_CHECK_TIMEOUT_MS: '500',
    SHUTDOWN_DRAIN_MS: '500',
    WS_TRANSPORTS: 'websocket',
    WS_RATE_LIMIT: '1000',
    WS_RATE_BURST: '1000',
  });

  function libraryClient(userId: string, url: string, portfolios: string[]): RecordingClient {
    const client = new RecordingClient(userId, url, portfolios);
    clients.push(client);
    return client;
  }

  /** A plain socket.io client subscribed to `portfolioId` that notes when each publication id reached it. */
  async function wireObserver(replica: ServerReplica, userId: string, portfolioId: string) {
    const socket = await connectClient(replica.url, userId, [portfolioId]);
    sockets.push(socket);
    const arrivals = new Map<string, number>();
    const note = (event: { id?: string }) => {
      if (typeof event.id === 'string' && !arrivals.has(event.id)) arrivals.set(event.id, Date.now());
    };
    socket.on('portfolio:update', note);
    socket.on('trade:executed', note);
    await expect(emitAck(socket, 'portfolio:subscribe', { portfolioId })).resolves.toMatchObject({
      ok: true,
    });
    return { socket, arrivals };
  }

  beforeAll(async () => {
    ensureBuilt();
    await redis.start();
    [a, b] = await Promise.all([
      ServerReplica.start('faults-a', env()),
      ServerReplica.start('faults-b', env()),
    ]);
  }, 240_000);

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const socket of sockets.splice(0)) socket.disconnect();
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    redis.thaw();
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis.stop();
  });

  it('away for more than the history holds: the library raises resync (not_recovered) and goes on in order', async () => {
    const portfolio = 'p-expired';
    const stream = `portfolio:${portfolio}`;
    const proxy = await TcpProxy.start([a.port]);
    proxies.push(proxy);
    const client = libraryClient('u-expired', proxy.url, [portfolio]);
    await client.client.connect();
    await client.client.subscribePortfolio(portfolio);
    const onB = new Publisher('b', b.url, PUBLISH_TOKEN);
    const body = { event: 'portfolio:update', portfolioId: portfolio };
    const first = await onB.publish(body);
    await waitFor(() => client.reached(stream, first.positions[stream]), 5000);
    const before = client.deliveries.length;

    proxy.block();
    await waitFor(() => !client.client.connected, 5000);
    const missed: Publication[] = [];
    for (let i = 0; i < HISTORY_SIZE + 5; i++) missed.push(await onB.publish(body));
    expect(missed.filter((p) => p.status !== 202 || p.degraded)).toEqual([]);
    proxy.unblock();

    await waitFor(() => client.resyncs(stream).length > 0, 10_000);
    expect(client.resyncs()).toEqual([
      {
        kind: 'resync',
        at: expect.any(Number),
        stream,
        reason: 'not_recovered',
        position: missed[missed.length - 1].positions[stream],
      },
    ]);
    // Nothing of the lost stretch is delivered; what follows is, in order.
    const next = [await onB.publish(body), await onB.publish(body)];
    await waitFor(() => client.reached(stream, next[1].positions[stream]), 5000);
    expect(client.deliveries.slice(before).map((d) => d.id)).toEqual(next.map((p) => p.id));
  }, 30_000);

  it('subscribing while Redis does not answer: the subscription holds, local publications arrive meanwhile, and once Redis is back delivery is positioned and in order', async () => {
    const portfolio = 'p-early';
    const stream = `portfolio:${portfolio}`;
    const client = libraryClient('u-early', a.url, [portfolio]);
    await client.client.connect();
    redis.freeze();
    const subscribing = client.client.subscribePortfolio(portfolio);
    const outcome = subscribing.then(
      (position) => ({ position }),
      (error: Error) => ({ error: error.message }),
    );
    const onA = new Publisher('a', a.url, PUBLISH_TOKEN);
    const body = { event: 'portfolio:update', portfolioId: portfolio };
    await sleep(1500); // the subscribe is asked for while Redis is frozen
    const during = await onA.publish(body);
    expect(during).toMatchObject({ status: 202, degraded: true, positions: {} });
    await waitFor(() => client.deliveries.some((d) => d.id === during.id), 5000);
    await sleep(1500);
    redis.thaw();
    const after = await (async () => {
      for (let i = 0; i < 50; i++) {
        const p = await onA.publish(body);
        if (!p.degraded) return p;
        await sleep(100);
      }
      throw new Error('publications stayed degraded after the thaw');
    })();
    await waitFor(() => client.reached(stream, after.positions[stream]), 10_000);
    expect(await outcome).toEqual({ position: expect.objectContaining({ epoch: expect.any(String) }) });
    expect(client.deliveries.map((d) => d.id)).toEqual(onA.publications.map((p) => p.id));
  }, 30_000);

  it('Redis frozen for 10 s under publishing on both replicas: deliveries stay ordered and unique, every loss is followed by resync, and every non-degraded publication reached the other replica within a second', async () => {
    const portfolio = 'p-frozen';
    const stream = `portfolio:${portfolio}`;
    const replicas = [a, b];
    const group = [0, 1, 2, 3, 4, 5].map((i) => ({
      replica: replicas[i % 2],
      client: libraryClient(`u-frozen-${i}`, replicas[i % 2].url, [portfolio]),
    }));
    await Promise.all(group.map(({ client }) => client.client.connect()));
    const subscribedAt = new Map<RecordingClient, StreamPosition>();
    for (const { client } of group)
      subscribedAt.set(client, await client.client.subscribePortfolio(portfolio));
    const wires = new Map([
      [a, await wireObserver(a, 'u-wire-a', portfolio)],
      [b, await wireObserver(b, 'u-wire-b', portfolio)],
    ]);

    const publishers = [new Publisher('a', a.url, PUBLISH_TOKEN), new Publisher('b', b.url, PUBLISH_TOKEN)];
    const publishing = Promise.all(
      publishers.map((p) => p.steady({ event: 'portfolio:update', portfolioId: portfolio }, 20, 14_000)),
    );
    await sleep(1000);
    redis.freeze();
    const frozenAt = Date.now();
    await sleep(10_000); // the freeze itself: the scenario's pace, not an assertion
    redis.thaw();
    const thawedAt = Date.now();
    await publishing;

    const publications = publishers.flatMap((p) => p.publications);
    expect(publications.filter((p) => p.status !== 202)).toEqual([]);
    const degradedDuringFreeze = publications.filter(
      (p) => p.degraded && p.sentAt > frozenAt && p.sentAt < thawedAt,
    );
    expect(degradedDuringFreeze.length).toBeGreaterThan(50);
    const truth = truthOf(publications, stream);
    expect(truth.size).toBeGreaterThanOrEqual(2); // the stream's history was cut by the outage
    const last = lastPosition(publications, stream);
    if (last === undefined) throw new Error('nothing positioned was published');
    const finalOffset = Math.max(...(truth.get(last.epoch) ?? new Map()).keys());
    await allReached(
      group.map((g) => g.client),
      stream,
      { epoch: last.epoch, offset: finalOffset },
      15_000,
    );

    // A publication Redis ran just before it froze, whose answer then came too late, was answered without a
    // position although Redis recorded it: its positioned copy is the only one other replicas can get.
    const answeredUnrecorded = new Set(
      publications.filter((p) => Object.keys(p.positions).length === 0).map((p) => p.id as string),
    );
    const recordedAnyway = new Map<string, number>();
    for (const { client } of group)
      for (const d of client.deliveredIn(stream))
        if (answeredUnrecorded.has(d.id))
          recordedAnyway.set(d.id, Math.max(d.at, recordedAnyway.get(d.id) ?? 0));
    // ... and only if Redis ran it in time: a script run at SIGCONT would deliver it 10 s late (nothing may be).
    const late = [...recordedAnyway].flatMap(([id, at]) => {
      const sentAt = publications.find((p) => p.id === id)?.sentAt ?? 0;
      return at - sentAt > 1500 ? [`${id} delivered ${at - sentAt} ms after it was sent`] : [];
    });
    expect(late.slice(0, 5)).toEqual([]);
    for (const { client } of group) {
      const deliveries = client.deliveries;
      const ids = deliveries.map((d) => d.id);
      expect({ user: client.userId, duplicates: ids.filter((id, i) => ids.indexOf(id) !== i) }).toEqual({
        user: client.userId,
        duplicates: [],
      });
      // Each positioned delivery is the next one after the last delivered or resync-adopted position, and is
      // the publication the stream has at that position.
      let at = subscribedAt.get(client) as StreamPosition;
      const broken: string[] = [];
      for (const entry of client.timeline) {
        if (entry.kind === 'resync') {
          if (entry.stream === stream) at = entry.position;
          continue;
        }
        const position = entry.positions[stream];
        if (position === undefined) continue;
        if (position.epoch !== at.epoch || position.offset !== at.offset + 1)
          broken.push(`${JSON.stringify(position)} after ${JSON.stringify(at)}`);
        const expected = truth.get(position.epoch)?.get(position.offset);
        if (expected === undefined ? !answeredUnrecorded.has(entry.id) : expected !== entry.id)
          broken.push(`${entry.id} is not ${JSON.stringify(position)}`);
        at = position;
      }
      expect({ user: client.userId, broken: broken.slice(0, 5) }).toEqual({
        user: client.userId,
        broken: [],
      });
      // What it never got was published while it could have missed it, and a resync came after.
      const delivered = new Set(ids);
      const resyncs = client.resyncs(stream);
      const unflagged = publications.filter(
        (p) => p.id !== undefined && !delivered.has(p.id) && !resyncs.some((r) => r.at > p.sentAt),
      );
      expect({ user: client.userId, unflagged: unflagged.map((p) => p.id) }).toEqual({
        user: client.userId,
        unflagged: [],
      });
    }
    // The local copies of the other replica's unrecorded publications never reach a client: they resync.
    expect(group.every(({ client }) => client.resyncs(stream).length > 0)).toBe(true);

    // Not degraded means delivered by the other replica too, in time (not at SIGCONT).
    const lost: string[] = [];
    for (const p of publications.filter((x) => !x.degraded)) {
      const other = wires.get(p.via === 'a' ? b : a);
      const arrived = other?.arrivals.get(p.id as string);
      if (arrived === undefined || arrived - p.answeredAt > 1000)
        lost.push(`${p.via}#${p.seq} ${arrived === undefined ? 'never' : `${arrived - p.answeredAt} ms`}`);
    }
    expect(lost).toEqual([]);
    expect(publications.filter((p) => !p.degraded && p.sentAt > thawedAt).length).toBeGreaterThan(10);
  }, 60_000);

  it('SIGTERM to the replica a client is on, while the other publishes 50/s: server:shutdown, then the client is on the other replica with every publication once, in order', async () => {
    const portfolio = 'p-redeploy';
    const stream = `portfolio:${portfolio}`;
    // The platform's balancer: new connections go to replicas whose readiness answers 200, A first.
    const watch = await new ReadinessWatch([a.port, b.port]).start();
    try {
      const proxy = await TcpProxy.start(watch.targets);
      proxies.push(proxy);
      const client = libraryClient('u-redeploy', proxy.url, [portfolio]);
      await client.client.connect();
      const subscribed = await client.client.subscribePortfolio(portfolio);
      expect(proxy.activeTargets).toEqual([a.port]);
      const onA = await connectClient(a.url, 'u-plain', [portfolio]);
      sockets.push(onA);
      const heard: Array<[string, unknown]> = [];
      onA.on('server:shutdown', (payload: unknown) => heard.push(['server:shutdown', payload]));
      onA.on('disconnect', (reason) => heard.push(['disconnect', reason]));

      const onB = new Publisher('b', b.url, PUBLISH_TOKEN);
      const publishing = onB.steady({ event: 'portfolio:update', portfolioId: portfolio }, 50, 4000);
      await sleep(1000);
      const exit = await a.terminate();
      await publishing;

      expect(exit).toEqual({ code: 0, signal: null });
      expect(heard).toEqual([
        ['server:shutdown', { reconnect: true }],
        ['disconnect', 'transport close'],
      ]);
      // Recorded, each one (B may say degraded while it still counts A among the live replicas).
      expect(onB.publications.filter((p) => p.status !== 202 || p.positions[stream] === undefined)).toEqual(
        [],
      );
      const last = lastPosition(onB.publications, stream);
      if (last === undefined) throw new Error('nothing was published');
      await allReached([client], stream, last, 10_000);
      const truth = truthOf(onB.publications, stream);
      expect(truth.size).toBe(1);
      expect(
        compareWithHistory(
          client.deliveredIn(stream),
          truth.get(last.epoch) ?? new Map(),
          subscribed.offset + 1,
          last.offset,
        ),
      ).toEqual({
        count: last.offset - subscribed.offset,
        outOfOrder: [],
        duplicates: [],
        missing: [],
        wrongId: [],
      });
      expect(client.resyncs()).toEqual([]);
      // It left on the server's word (server:shutdown), not on a dead transport, and came back on B.
      expect(client.disconnects).toEqual([
        { reason: 'io client disconnect', willReconnect: true, at: expect.any(Number) },
      ]);
      expect(client.connects.map((c) => c.reconnect)).toEqual([false, true]);
      expect(proxy.activeTargets).toEqual([b.port]);
    } finally {
      watch.stop();
    }
  }, 40_000);
});
