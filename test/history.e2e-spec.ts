import request from 'supertest';
import {
  ALERT_HISTORY_STORE,
  AlertHistoryStore,
  METRICS_HISTORY_STORE,
  MetricSnapshotRecord,
  MetricsHistoryStore,
} from '../src/history/history.types';
import { MetricsSnapshotJob } from '../src/history/metrics-snapshot.job';
import { alertTransition, metricsBody } from './fixtures/history';
import { InstanceInfo } from '../src/lifecycle/instance-info';
import { MetricsService, MetricsSnapshot } from '../src/metrics/metrics.service';
import { createTestApp, TestApp } from './utils/test-app';

const MINUTE = 60_000;
const T0 = Date.UTC(2025, 0, 1, 0, 0, 0);

/** A /metrics body whose figures follow `n`, so each stored snapshot can be recognised. */
function bodyFor(n: number): MetricsSnapshot {
  return metricsBody({
    connections: n,
    uniqueUsers: n * 2,
    eventsPerSecond: n / 10,
    wsLatencyP95: 100 + n,
    httpLatencyP95: 40,
    httpErrorRate: 0.5,
    cpu: 5,
    eventLoopDelayP99: 12,
  });
}

/**
 * Fakes the metrics figures only (the rest of MetricsService stays real). Under fake time the figures follow the
 * minute since T0, so a snapshot is recognisable whoever else (the alert monitors) reads the metrics too.
 */
function fakeSnapshots(t: TestApp, figure: () => number = () => Math.round((Date.now() - T0) / MINUTE)) {
  return jest
    .spyOn(t.app.get(MetricsService), 'snapshot')
    .mockImplementation(() => Promise.resolve(bodyFor(figure())));
}

describe('Metric history (e2e, in memory)', () => {
  describe('snapshots on the schedule, under fake time', () => {
    let t: TestApp;
    let instanceId: string;

    beforeAll(async () => {
      // Only the interval timer and the clock are fake: sockets, timeouts and microtasks stay real.
      jest.useFakeTimers({
        now: T0,
        doNotFake: [
          'nextTick',
          'setImmediate',
          'clearImmediate',
          'setTimeout',
          'clearTimeout',
          'queueMicrotask',
          'hrtime',
          'performance',
        ],
      });
      t = await createTestApp({ METRICS_SNAPSHOT_INTERVAL_MS: String(MINUTE) });
      instanceId = t.app.get(InstanceInfo).id;
      fakeSnapshots(t);
      await jest.advanceTimersByTimeAsync(90 * MINUTE);
    });
    afterAll(async () => {
      await t.close();
      jest.useRealTimers();
    });

    it('range=1h: one point per minute of the last hour, oldest first, with the figures of each snapshot', async () => {
      const res = await request(t.url).get('/metrics/history?range=1h').expect(200);
      expect(res.body).toMatchObject({
        range: '1h',
        from: new Date(T0 + 30 * MINUTE).toISOString(),
        to: new Date(T0 + 90 * MINUTE).toISOString(),
        bucketMs: MINUTE,
        instance: null,
        backend: 'memory',
        instances: [instanceId],
      });
      // The real alert monitors run under the same fake time and may record transitions: all must be in range.
      for (const a of res.body.alerts as Array<{ timestamp: string }>) {
        expect(Date.parse(a.timestamp)).toBeGreaterThanOrEqual(T0 + 30 * MINUTE);
        expect(Date.parse(a.timestamp)).toBeLessThanOrEqual(T0 + 90 * MINUTE);
      }
      const points = res.body.points as Array<Record<string, number | string>>;
      // Snapshots n = 30..90 were taken at T0 + n minutes.
      expect(points).toHaveLength(61);
      expect(points[0]).toEqual({
        timestamp: new Date(T0 + 30 * MINUTE).toISOString(),
        instances: 1,
        connections: 30,
        uniqueUsers: 60,
        eventsPerSecond: 3,
        wsLatencyP95: 130,
        httpLatencyP95: 40,
        httpErrorRate: 0.5,
        rss: expect.any(Number),
        heapUsed: expect.any(Number),
        cpu: 5,
        eventLoopDelayP99: 12,
      });
      expect(points[0].rss).toBeGreaterThan(0);
      expect(points.map((p) => p.connections)).toEqual(Array.from({ length: 61 }, (_, i) => 30 + i));
    });

    it('range=24h: 289 s buckets averaging the one-minute snapshots, latencies at their maximum', async () => {
      const res = await request(t.url).get('/metrics/history?range=24h').expect(200);
      expect(res.body.bucketMs).toBe(289_000);
      const expected = new Map<number, number[]>();
      for (let k = 1; k <= 90; k++) {
        const bucket = Math.floor((T0 + k * MINUTE) / 289_000);
        expected.set(bucket, [...(expected.get(bucket) ?? []), k]);
      }
      expect(
        res.body.points.map((p: Record<string, number | string>) => [
          p.timestamp,
          p.connections,
          p.wsLatencyP95,
        ]),
      ).toEqual(
        [...expected].map(([bucket, ks]) => [
          new Date(bucket * 289_000).toISOString(),
          Math.round((ks.reduce((a, b) => a + b, 0) / ks.length) * 1000) / 1000,
          100 + Math.max(...ks),
        ]),
      );
    });

    it('instance filter: this instance matches, another has nothing', async () => {
      const mine = await request(t.url)
        .get('/metrics/history')
        .query({ range: '1h', instance: instanceId })
        .expect(200);
      expect(mine.body.instance).toBe(instanceId);
      expect(mine.body.points).toHaveLength(61);
      const other = await request(t.url).get('/metrics/history?range=1h&instance=replica-other').expect(200);
      expect(other.body).toMatchObject({ instance: 'replica-other', instances: [], points: [] });
    });

    it('a snapshot that cannot be taken is skipped; the schedule goes on', async () => {
      const spy = jest.spyOn(t.app.get(MetricsService), 'snapshot');
      const figures = spy.getMockImplementation()!;
      spy.mockImplementation(() =>
        Date.now() === T0 + 91 * MINUTE
          ? Promise.reject(new Error('WebSocket server not initialized'))
          : figures(),
      );
      await jest.advanceTimersByTimeAsync(2 * MINUTE);
      const res = await request(t.url).get('/metrics/history?range=1h').expect(200);
      const last = res.body.points.slice(-2).map((p: { timestamp: string }) => p.timestamp);
      expect(last).toEqual([
        new Date(T0 + 90 * MINUTE).toISOString(),
        new Date(T0 + 92 * MINUTE).toISOString(),
      ]);
    });

    it('alert transitions in the range come with the points, and /alerts reads recent from the same store', async () => {
      const store = t.app.get<AlertHistoryStore>(ALERT_HISTORY_STORE);
      const now = Date.now();
      await store.append(alertTransition(now - 10 * MINUTE, { key: 'test.recent', instanceId }));
      await store.append(alertTransition(now - 5 * 60 * MINUTE, { key: 'test.older', instanceId }));
      // Only ours: the real monitors may have recorded transitions of their own under fake time.
      const ours = (list: Array<{ key: string }>) => list.filter((a) => a.key.startsWith('test.'));
      const hour = await request(t.url).get('/metrics/history?range=1h').expect(200);
      expect(ours(hour.body.alerts)).toEqual([
        {
          key: 'test.recent',
          from: 'ok',
          to: 'warning',
          message: 'CPU usage is 75% (threshold 70%)',
          value: 75,
          threshold: 70,
          timestamp: new Date(now - 10 * MINUTE).toISOString(),
          instanceId,
        },
      ]);
      const day = await request(t.url).get('/metrics/history?range=24h').expect(200);
      expect(ours(day.body.alerts).map((a) => a.key)).toEqual(['test.older', 'test.recent']);

      const alerts = await request(t.url).get('/alerts').expect(200);
      expect(ours(alerts.body.recent).map((a) => a.key)).toEqual(['test.recent', 'test.older']);
    });
  });

  describe('validation, guard and direct runs', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp({ METRICS_TOKEN: 'history-token-123' });
    });
    afterAll(() => t.close());

    const auth = { Authorization: 'Bearer history-token-123' };

    it('is guarded by METRICS_TOKEN', async () => {
      const res = await request(t.url).get('/metrics/history?range=1h').expect(401);
      expect(res.headers['www-authenticate']).toMatch(/^Basic/);
      await request(t.url)
        .get('/metrics/history?range=1h')
        .set({ Authorization: 'Bearer wrong' })
        .expect(401);
      await request(t.url).get('/metrics/history?range=1h').set(auth).expect(200);
    });

    it.each([
      ['range=2h', 'range must be one of 1h, 24h, 7d, 30d'],
      ['range=', 'range must be one of 1h, 24h, 7d, 30d'],
      ['range=1h&range=24h', 'range must be one of 1h, 24h, 7d, 30d'],
      [
        'range=1h&instance=bad%20id',
        'instance must be 1-128 characters of letters, digits, dot, dash, underscore, colon',
      ],
      [
        `range=1h&instance=${'x'.repeat(129)}`,
        'instance must be 1-128 characters of letters, digits, dot, dash, underscore, colon',
      ],
      [
        'range=1h&instance=a&instance=b',
        'instance must be 1-128 characters of letters, digits, dot, dash, underscore, colon',
      ],
    ])('400 for %s', async (query, message) => {
      const res = await request(t.url).get(`/metrics/history?${query}`).set(auth).expect(400);
      expect(res.body).toEqual({ statusCode: 400, error: 'Bad Request', message });
    });

    it('no range means 1h', async () => {
      const res = await request(t.url).get('/metrics/history').set(auth).expect(200);
      expect(res.body.range).toBe('1h');
    });

    it('a direct run of the snapshot job appears at once; 7d and 30d answer at most 300 points', async () => {
      fakeSnapshots(t, () => 1);
      const job = t.app.get(MetricsSnapshotJob);
      const record = (await job.run()) as MetricSnapshotRecord;
      expect(record).toMatchObject({
        connections: 1,
        uniqueUsers: 2,
        instanceId: t.app.get(InstanceInfo).id,
      });
      for (const range of ['7d', '30d']) {
        const res = await request(t.url).get(`/metrics/history?range=${range}`).set(auth).expect(200);
        expect(res.body.points).toHaveLength(1);
        expect(res.body.points[0]).toMatchObject({ connections: 1, uniqueUsers: 2, instances: 1 });
      }
    });

    it("with the real MetricsService (gateway up): a run stores this instance's live figures", async () => {
      jest.restoreAllMocks();
      const live = await t.app.get(MetricsService).snapshot();
      const record = (await t.app.get(MetricsSnapshotJob).run()) as MetricSnapshotRecord;
      expect(record).not.toBeNull();
      expect(record.connections).toBe(live.websocket.totalConnections);
      expect(record.cpu).toBeGreaterThanOrEqual(0);
      expect(record.rss).toBeGreaterThan(0);
      const store = t.app.get<MetricsHistoryStore>(METRICS_HISTORY_STORE);
      const at = record.timestamp.getTime();
      const { points } = await store.series({ from: new Date(at), to: new Date(at + 1), bucketMs: 1 });
      expect(points).toEqual([
        expect.objectContaining({ connections: record.connections, rss: record.rss, instances: 1 }),
      ]);
    });
  });
});
