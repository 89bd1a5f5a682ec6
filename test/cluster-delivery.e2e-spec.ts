import Redis from 'ioredis';
import request from 'supertest';
import { ALERT_KEYS } from '../src/alerts/alert-keys';
import { RedisTestServer } from './utils/redis-server';
import { Replica } from './utils/replica';
import { exposition, sampleValue } from './utils/server-checks';
import { waitFor } from './utils/socket-client';
import { SubscriberPath } from './utils/subscriber-path';

/** Short on purpose so a test takes seconds; the alert arithmetic is in intervals, whatever their length. */
const PROBE_MS = 500;
const HEARTBEAT_MS = 200;
/**
 * When cluster.delivery must have fired, counted from the fault: two intervals of silence (counted from the last
 * probe that arrived, which is at most the fault time), then the engine's two consecutive breaches at a quarter
 * interval each, plus one interval of margin for a loaded test machine.
 */
const FIRE_WITHIN_MS = 2 * PROBE_MS + 2 * (PROBE_MS / 4) + PROBE_MS;
/** Resolving needs a probe to arrive (at most one interval) and two clear checks. */
const RESOLVE_WITHIN_MS = PROBE_MS + 2 * (PROBE_MS / 4) + PROBE_MS;

interface AlertsBody {
  active: Array<{ key: string; severity: string; message: string }>;
  recent: Array<{ key: string; to?: string; severity?: string }>;
}

/**
 * cluster.delivery against real replica processes on a real Redis: a healthy pair raises nothing; a subscriber
 * path frozen with SIGSTOP, and a subscriber whose connection is killed and cannot resubscribe, raise it within
 * two intervals (plus the check's own cadence) while Redis PING stays fine; it resolves once probes flow again.
 */
describe('Cross-replica delivery probes and cluster.delivery (e2e)', () => {
  const redis = new RedisTestServer();
  let path: SubscriberPath;
  let admin: Redis;
  let a: Replica;
  let b: Replica;

  const env = (id: string, redisUrl: string) => ({
    REDIS_URL: redisUrl,
    RAILWAY_REPLICA_ID: id,
    CLUSTER_HEARTBEAT_MS: String(HEARTBEAT_MS),
    CLUSTER_PROBE_INTERVAL_MS: String(PROBE_MS),
    WS_TRANSPORTS: 'websocket',
  });
  const alerts = async (r: Replica): Promise<AlertsBody> =>
    (await request(r.url).get('/alerts').timeout(3000).expect(200)).body as AlertsBody;
  const deliveryActive = async (r: Replica) =>
    (await alerts(r)).active.some((x) => x.key === ALERT_KEYS.clusterDelivery);
  const deliveryTransitions = async (r: Replica) =>
    (await alerts(r)).recent.filter((t) => t.key === ALERT_KEYS.clusterDelivery).length;
  const probesReceived = async (r: Replica) =>
    sampleValue(await exposition(r.url), 'cluster_probes_received_total') ?? 0;
  const probeAge = async (r: Replica, peer: string) =>
    sampleValue(await exposition(r.url), 'cluster_probe_age_seconds', { peer });
  /** A CLIENT subcommand on the test's own connection to Redis. */
  const client = (...args: string[]) => admin.call('CLIENT', ...args);
  /** Resolves with the ms it took until `check` held; throws after `ms`. */
  const within = async (ms: number, check: () => Promise<boolean>): Promise<number> => {
    const start = Date.now();
    await waitFor(check, ms, 50);
    return Date.now() - start;
  };
  /** Both replicas see the other's probes arrive. */
  const bothReceiving = async () => {
    const [ra, rb] = [await probesReceived(a), await probesReceived(b)];
    await waitFor(
      async () => (await probesReceived(a)) > ra + 1 && (await probesReceived(b)) > rb + 1,
      4 * PROBE_MS,
      50,
    );
  };

  beforeAll(async () => {
    await redis.start();
    admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await admin.connect();
    path = await new SubscriberPath(redis.port).start();
    [a, b] = await Promise.all([
      Replica.start(env('replica-a', redis.url)),
      Replica.start(env('replica-b', path.url)),
    ]);
    // Each has the other in its heartbeat view and receives its probes.
    await waitFor(
      async () =>
        (await probeAge(a, 'replica-b')) !== undefined && (await probeAge(b, 'replica-a')) !== undefined,
      10_000,
      100,
    );
    await bothReceiving();
  }, 60_000);

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await path?.close();
    admin?.disconnect();
    await redis.stop();
  });

  it("routes only replica B's adapter subscriber through the forwarder it can freeze", () => {
    expect(path.subscriberConnections).toBe(1);
  });

  it('raises nothing in a healthy pair over ten probe intervals, and probe ages stay under two intervals', async () => {
    const deadline = Date.now() + 10 * PROBE_MS;
    let polls = 0;
    while (Date.now() < deadline) {
      expect(await deliveryActive(a)).toBe(false);
      expect(await deliveryActive(b)).toBe(false);
      expect(await probeAge(a, 'replica-b')).toBeLessThan((2 * PROBE_MS) / 1000);
      expect(await probeAge(b, 'replica-a')).toBeLessThan((2 * PROBE_MS) / 1000);
      polls++;
    }
    expect(polls).toBeGreaterThan(5);
    expect(await deliveryTransitions(a)).toBe(0);
    expect(await deliveryTransitions(b)).toBe(0);
  }, 20_000);

  it("SIGSTOP of B's subscriber path: B alerts about A within two intervals while Redis answers; resolved after SIGCONT", async () => {
    path.stop();
    try {
      const firedAfter = await within(FIRE_WITHIN_MS, () => deliveryActive(b));
      const fired = (await alerts(b)).active.find((x) => x.key === ALERT_KEYS.clusterDelivery);
      expect(fired?.message).toContain('replica-a');
      expect(firedAfter).toBeLessThanOrEqual(FIRE_WITHIN_MS);
      // A still hears B (B publishes on its own connection), and Redis itself is fine for both.
      expect(await deliveryActive(a)).toBe(false);
      expect(await probeAge(a, 'replica-b')).toBeLessThan((2 * PROBE_MS) / 1000);
      await request(b.url).get('/health/ready').timeout(3000).expect(200);
    } finally {
      path.resume();
    }
    await within(RESOLVE_WITHIN_MS, async () => !(await deliveryActive(b)));
    expect((await alerts(b)).recent.filter((t) => t.key === ALERT_KEYS.clusterDelivery).length).toBe(2);
    await bothReceiving();
  }, 20_000);

  /**
   * The adapter subscribers connected to Redis right now (CLIENT LIST TYPE pubsub): name, how many channels and
   * patterns each is subscribed to.
   */
  const pubsubClients = async () =>
    ((await client('LIST', 'TYPE', 'pubsub')) as string)
      .split('\n')
      .filter((l) => l.includes('socket.io-sub'))
      .map((l) => `${/name=(\S+)/.exec(l)?.[1]} ${/ sub=\d+/.exec(l)?.[0]} ${/ psub=\d+/.exec(l)?.[0]}`)
      .sort();

  it('CLIENT KILL TYPE pubsub: ioredis reconnects and resubscribes the adapter at once, so delivery resumes and nothing fires', async () => {
    const before = await pubsubClients();
    expect(before).toHaveLength(2);
    const ids: string[] = ((await client('LIST', 'TYPE', 'pubsub')) as string).match(/id=\d+/g) ?? [];
    const killed = (await client('KILL', 'TYPE', 'pubsub')) as number;
    expect(killed).toBe(2);
    // New connections (new ids), the same two subscribers, subscribed again to the adapter's channels.
    await waitFor(async () => {
      const list = (await client('LIST', 'TYPE', 'pubsub')) as string;
      const now = list.match(/id=\d+/g) ?? [];
      return now.length === 2 && now.every((id) => !ids.includes(id));
    }, 5000);
    await waitFor(async () => JSON.stringify(await pubsubClients()) === JSON.stringify(before), 5000);
    expect(before[0]).toMatch(/ psub=1$/);
    await bothReceiving();
    expect(await deliveryActive(a)).toBe(false);
    expect(await deliveryActive(b)).toBe(false);
  }, 20_000);

  it("CLIENT KILL TYPE pubsub while B's subscriber cannot reconnect: B alerts within two intervals, A (reconnected) does not; resolved once B's reconnect succeeds", async () => {
    path.refuseSubscribers = true;
    try {
      expect(await client('KILL', 'TYPE', 'pubsub')).toBe(2);
      const firedAfter = await within(FIRE_WITHIN_MS, () => deliveryActive(b));
      expect(firedAfter).toBeLessThanOrEqual(FIRE_WITHIN_MS);
      expect(path.refused).toBeGreaterThan(0);
      expect(await deliveryActive(a)).toBe(false);
      await request(b.url).get('/health/ready').timeout(3000).expect(200);
    } finally {
      path.refuseSubscribers = false;
    }
    // ioredis retries with a backoff capped at 2 s, then resubscribes what it had.
    await within(2000 + RESOLVE_WITHIN_MS, async () => !(await deliveryActive(b)));
    expect((await pubsubClients()).map((c) => c.split(' ')[0])).toHaveLength(2);
    await bothReceiving();
  }, 30_000);

  /** ids of the adapter subscribers' connections, whatever mode they are in. */
  const subscriberIds = async () =>
    ((await client('LIST')) as string)
      .split('\n')
      .filter((l) => l.includes(':socket.io-sub:'))
      .map((l) => /id=(\d+)/.exec(l)?.[1] ?? '');

  // Last: it leaves both replicas without cross-replica delivery, which is what it shows.
  it('CLIENT KILL TYPE pubsub while Redis refuses the resubscription: both alert though PING is fine, and stay alerting, since ioredis never subscribes again', async () => {
    // Subscribing (and publishing) is refused from now on; keys and PING are not.
    await admin.acl('SETUSER', 'default', 'resetchannels');
    try {
      await client('KILL', 'TYPE', 'pubsub').catch(() => 0);
      const fired = await Promise.all([
        within(FIRE_WITHIN_MS, () => deliveryActive(a)),
        within(FIRE_WITHIN_MS, () => deliveryActive(b)),
      ]);
      expect(Math.max(...fired)).toBeLessThanOrEqual(FIRE_WITHIN_MS);
      // What a PING-based check sees meanwhile: Redis up, both subscribers connected, subscribed to nothing.
      await request(a.url).get('/health/ready').timeout(3000).expect(200);
      expect(await pubsubClients()).toEqual([]);
      expect(await subscriberIds()).toHaveLength(2);
    } finally {
      await admin.acl('SETUSER', 'default', 'allchannels');
    }
    // Channels allowed again, and even a fresh connection: the failed resubscription emptied ioredis's list of
    // subscriptions, so the adapter's channels (probes, serverSideEmit) stay gone and only a restart of the replica
    // brings them back. The streams channel is subscribed again by the server itself on every 'ready', so
    // publications still reach every replica: each subscriber holds that one channel and no pattern.
    const old = await subscriberIds();
    for (const id of old) await client('KILL', 'ID', id);
    await waitFor(async () => {
      const now = await subscriberIds();
      return now.length === 2 && now.every((id) => !old.includes(id));
    }, 5000);
    const received = await probesReceived(a);
    const until = Date.now() + 3 * PROBE_MS;
    while (Date.now() < until) {
      expect(await deliveryActive(a)).toBe(true);
      expect(await deliveryActive(b)).toBe(true);
    }
    expect(await pubsubClients()).toEqual([
      'websocket-server:socket.io-sub:replica-a  sub=1  psub=0',
      'websocket-server:socket.io-sub:replica-b  sub=1  psub=0',
    ]);
    expect(await probesReceived(a)).toBe(received);
  }, 30_000);
});
