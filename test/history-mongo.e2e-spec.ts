import request from 'supertest';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { bucketWidthMs } from '../src/history/downsample';
import { alertTransition, metricsBody, snapshotRecord } from './fixtures/history';
import {
  ALERT_HISTORY_STORE,
  HISTORY_RANGES,
  METRICS_HISTORY_STORE,
  MetricsHistoryStore,
  QueryableAlertHistoryStore,
} from '../src/history/history.types';
import { InMemoryAlertHistoryStore, InMemoryMetricsHistoryStore } from '../src/history/memory-history.store';
import { MetricsSnapshotJob } from '../src/history/metrics-snapshot.job';
import { MongoHistoryCollections } from '../src/history/mongo/mongo-history.collections';
import {
  ALERT_TRANSITIONS_COLLECTION,
  METRIC_SNAPSHOTS_COLLECTION,
} from '../src/history/mongo/history.schemas';
import {
  MONGO_WRITE_BUFFER_CAPACITY,
  MongoAlertHistoryStore,
  MongoMetricsHistoryStore,
} from '../src/history/mongo/mongo-history.store';
import { MetricsService, MetricsSnapshot } from '../src/metrics/metrics.service';
import { LogCapture } from './utils/log-capture';
import { freePort } from './utils/ports';
import { SilentTcpServer } from './utils/silent-server';
import { createTestApp, TestApp } from './utils/test-app';

const BUFFER_FULL = 'History buffer full while MongoDB is unavailable: dropping the oldest records';

function body(): MetricsSnapshot {
  return metricsBody({
    connections: 3,
    uniqueUsers: 2,
    eventsPerSecond: 1,
    wsLatencyP95: 9,
    httpLatencyP95: 3,
    httpErrorRate: 0,
    cpu: 4,
    eventLoopDelayP99: 5,
  });
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met within ${timeoutMs}ms`);
}

describe('History with MongoDB away (e2e, real failures)', () => {
  const cases: Array<[string, () => Promise<{ uri: string; stop: () => Promise<void> }>]> = [
    [
      'unreachable (closed port)',
      async () => ({ uri: `mongodb://127.0.0.1:${await freePort()}/history`, stop: () => Promise.resolve() }),
    ],
    [
      'hanging (accepts, never answers)',
      async () => {
        const silent = await new SilentTcpServer().start();
        return { uri: `mongodb://127.0.0.1:${silent.port}/history`, stop: () => silent.stop() };
      },
    ],
  ];

  describe.each(cases)('%s', (_name, makeAddress) => {
    const logs = new LogCapture();
    let t: TestApp;
    let stopAddress: () => Promise<void>;

    beforeAll(async () => {
      const address = await makeAddress();
      stopAddress = address.stop;
      logs.start();
      t = await createTestApp({
        MONGODB_URI: address.uri,
        HEALTH_CHECK_TIMEOUT_MS: '500',
        LOG_LEVEL: 'info',
      });
    });
    afterAll(async () => {
      await t.close();
      logs.stop();
      await stopAddress();
    });

    it('chose the MongoDB stores at start-up', () => {
      expect(t.app.get<MetricsHistoryStore>(METRICS_HISTORY_STORE)).toBeInstanceOf(MongoMetricsHistoryStore);
      expect(t.app.get(ALERT_HISTORY_STORE)).toBeInstanceOf(MongoAlertHistoryStore);
      expect(logs.find('History in MongoDB')).toHaveLength(1);
    });

    it('GET /metrics/history answers 503 with a clear message, promptly, every time', async () => {
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const res = await request(t.url).get('/metrics/history?range=24h').timeout(5000).expect(503);
        expect(Date.now() - started).toBeLessThan(2000);
        expect(res.body).toEqual({
          statusCode: 503,
          error: 'Service Unavailable',
          message: 'History is unavailable: MongoDB is not connected',
        });
      }
      // Validation still comes first.
      await request(t.url).get('/metrics/history?range=1y').expect(400);
    });

    it('snapshots and alert transitions are buffered, never thrown; beyond the buffer the oldest go with ONE warning', async () => {
      jest.spyOn(t.app.get(MetricsService), 'snapshot').mockImplementation(() => Promise.resolve(body()));
      const metrics = t.app.get<MongoMetricsHistoryStore>(METRICS_HISTORY_STORE);
      const alerts = t.app.get<MongoAlertHistoryStore>(ALERT_HISTORY_STORE);
      const before = metrics.pendingWrites;
      await expect(t.app.get(MetricsSnapshotJob).run()).resolves.toMatchObject({ connections: 3 });
      expect(metrics.pendingWrites).toBe(before + 1);

      const alertsBefore = alerts.pendingWrites;
      const extra = 250;
      for (let i = 0; i < MONGO_WRITE_BUFFER_CAPACITY + extra; i++) {
        await expect(
          alerts.append(alertTransition(Date.now(), { key: `test.${i}` })),
        ).resolves.toBeUndefined();
      }
      expect(alerts.pendingWrites).toBe(MONGO_WRITE_BUFFER_CAPACITY);
      expect(alertsBefore).toBeLessThan(MONGO_WRITE_BUFFER_CAPACITY);
      const warnings = logs.find(BUFFER_FULL);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({
        level: 'warn',
        records: 'alert transitions',
        capacity: MONGO_WRITE_BUFFER_CAPACITY,
      });
      expect(
        logs.find('History writes failing: buffering records until MongoDB answers').length,
      ).toBeGreaterThanOrEqual(1);
    });

    it('the rest of the server keeps serving: /health 200, /health/database 503, /alerts 200', async () => {
      await request(t.url).get('/health').expect(200);
      await request(t.url).get('/health/database').expect(503);
      const res = await request(t.url).get('/alerts').timeout(5000).expect(200);
      expect(Array.isArray(res.body.recent)).toBe(true);
    });
  });
});

/**
 * Against a real MongoDB only when MONGODB_TEST_URI is set (none can be installed on the build machines). Each run
 * uses its own database and drops it afterwards.
 */
const mongoTestUri = process.env.MONGODB_TEST_URI;
if (mongoTestUri === undefined) {
  console.log(
    'SKIPPED: "History with a live MongoDB" needs MONGODB_TEST_URI (no MongoDB server can be installed here)',
  );
}

(mongoTestUri ? describe : describe.skip)('History with a live MongoDB (MONGODB_TEST_URI)', () => {
  const MINUTE = 60_000;
  const logs = new LogCapture();
  let t: TestApp;
  let uri: string;
  let connection: Connection;

  beforeAll(async () => {
    const url = new URL(mongoTestUri!);
    url.pathname = `/history_test_${process.pid}_${Date.now()}`;
    uri = url.toString();
    logs.start(true);
    t = await createTestApp({
      MONGODB_URI: uri,
      LOG_LEVEL: 'info',
      METRICS_RETENTION_DAYS: '30',
      ALERT_RETENTION_DAYS: '90',
    });
    connection = t.app.get<Connection>(getConnectionToken());
    const collections = t.app.get(MongoHistoryCollections);
    await waitFor(() => collections.canWrite, 15_000);
  });
  afterAll(async () => {
    await connection.db?.dropDatabase().catch(() => undefined);
    await t.close();
    logs.stop();
  });

  it('created the collections with their expiry: time-series (or the announced plain fallback) and TTL indexes', async () => {
    const db = connection.db!;
    const [metrics] = await db.listCollections({ name: METRIC_SNAPSHOTS_COLLECTION }).toArray();
    const kind = t.app.get(MongoHistoryCollections).metricsKind;
    if (kind === 'timeseries') {
      expect(metrics).toMatchObject({
        type: 'timeseries',
        options: {
          timeseries: { timeField: 'timestamp', metaField: 'instanceId' },
          expireAfterSeconds: 30 * 86_400,
        },
      });
    } else {
      expect(
        logs.lines.filter((l) => String(l.message).includes('plain collection with a TTL index')),
      ).toHaveLength(1);
      const indexes = await db.collection(METRIC_SNAPSHOTS_COLLECTION).indexes();
      expect(indexes).toContainEqual(
        expect.objectContaining({ key: { timestamp: 1 }, expireAfterSeconds: 30 * 86_400 }),
      );
    }
    const alertIndexes = await db.collection(ALERT_TRANSITIONS_COLLECTION).indexes();
    expect(alertIndexes).toContainEqual(
      expect.objectContaining({ key: { timestamp: 1 }, expireAfterSeconds: 90 * 86_400 }),
    );
  });

  it('set-up is idempotent', async () => {
    const collections = t.app.get(MongoHistoryCollections);
    await collections.setUp();
    await collections.setUp();
    expect(collections.canWrite).toBe(true);
  });

  it('answers exactly what the in-memory store answers for the same snapshots (two instances, all ranges, filter)', async () => {
    const mongo = t.app.get<MongoMetricsHistoryStore>(METRICS_HISTORY_STORE);
    const memory = new InMemoryMetricsHistoryStore(10_000);
    const now = Date.now();
    for (let i = 1; i <= 600; i++) {
      const a = snapshotRecord(now - i * MINUTE, 'mongo-a', {
        connections: i % 17,
        wsLatencyP95: (i * 37) % 101,
        cpu: i % 9,
        // Two processes of mongo-a: the deploy markers must come out the same from both stores.
        ...(i > 300
          ? { version: '1', startedAt: new Date(now - 700 * MINUTE) }
          : { version: '2', startedAt: new Date(now - 300.5 * MINUTE) }),
      });
      const b = snapshotRecord(now - i * MINUTE + 20_000, 'mongo-b', {
        connections: i % 5,
        httpLatencyP95: (i * 13) % 89,
      });
      for (const r of [a, b]) {
        await mongo.append(r);
        await memory.append(r);
      }
    }
    await mongo.flush();
    expect(mongo.pendingWrites).toBe(0);
    for (const [range, rangeMs] of Object.entries(HISTORY_RANGES)) {
      for (const instanceId of [undefined, 'mongo-b']) {
        const query = {
          from: new Date(now - rangeMs),
          to: new Date(now + 1),
          bucketMs: bucketWidthMs(rangeMs, MINUTE),
          instanceId,
        };
        const [fromMongo, fromMemory] = await Promise.all([mongo.series(query), memory.series(query)]);
        expect({ range, instanceId, ...fromMongo }).toEqual({ range, instanceId, ...fromMemory });
        expect(fromMongo.points.length).toBeGreaterThan(0);
        const [startsMongo, startsMemory] = await Promise.all([mongo.starts(query), memory.starts(query)]);
        expect({ range, instanceId, startsMongo }).toEqual({ range, instanceId, startsMongo: startsMemory });
      }
    }
    const res = await request(t.url).get('/metrics/history?range=24h').expect(200);
    expect(res.body.backend).toBe('mongodb');
    expect(res.body.instances).toEqual(expect.arrayContaining(['mongo-a', 'mongo-b']));
  });

  it('alert transitions: recent() newest first and between() like the in-memory store; /alerts reads them', async () => {
    const mongo = t.app.get<QueryableAlertHistoryStore & { flush(): Promise<void> }>(ALERT_HISTORY_STORE);
    const memory = new InMemoryAlertHistoryStore();
    const now = Date.now();
    for (let i = 0; i < 30; i++) {
      const tr = alertTransition(now - i * MINUTE, {
        key: `live.${i}`,
        instanceId: i % 2 === 0 ? 'mongo-a' : 'mongo-b',
        value: i,
      });
      await mongo.append(tr);
      await memory.append(tr);
    }
    await mongo.flush();
    expect(await mongo.recent(10)).toEqual(await memory.recent(10));
    const from = new Date(now - 20 * MINUTE);
    const to = new Date(now - 5 * MINUTE);
    expect(await mongo.between(from, to, 100)).toEqual(await memory.between(from, to, 100));
    expect(await mongo.between(from, to, 3, 'mongo-a')).toEqual(await memory.between(from, to, 3, 'mongo-a'));
    const res = await request(t.url).get('/alerts').expect(200);
    expect(res.body.recent[0].key).toBe('live.0');
  });

  it('a changed retention is applied to the existing collections on the next start', async () => {
    const other = await createTestApp({
      MONGODB_URI: uri,
      METRICS_RETENTION_DAYS: '7',
      ALERT_RETENTION_DAYS: '14',
    });
    try {
      const collections = other.app.get(MongoHistoryCollections);
      await waitFor(() => collections.canWrite, 15_000);
      const db = other.app.get<Connection>(getConnectionToken()).db!;
      if (collections.metricsKind === 'timeseries') {
        const [metrics] = await db.listCollections({ name: METRIC_SNAPSHOTS_COLLECTION }).toArray();
        expect(metrics).toMatchObject({ options: { expireAfterSeconds: 7 * 86_400 } });
      } else {
        const indexes = await db.collection(METRIC_SNAPSHOTS_COLLECTION).indexes();
        expect(indexes).toContainEqual(
          expect.objectContaining({ key: { timestamp: 1 }, expireAfterSeconds: 7 * 86_400 }),
        );
      }
      const alertIndexes = await db.collection(ALERT_TRANSITIONS_COLLECTION).indexes();
      expect(alertIndexes).toContainEqual(
        expect.objectContaining({ key: { timestamp: 1 }, expireAfterSeconds: 14 * 86_400 }),
      );
    } finally {
      await other.close();
    }
  });
});
