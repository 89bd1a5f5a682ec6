import {
  AVERAGE_FIELDS,
  bucketWidthMs,
  combineInstances,
  MAX_FIELDS,
  reduceToInstanceBuckets,
  SUM_FIELDS,
} from './downsample';
import { snapshotRecord } from '../../test/fixtures/history';
import { HISTORY_RANGES, MAX_POINTS_PER_SERIES, METRIC_FIELDS } from './history.types';

const MINUTE = 60_000;

describe('downsample', () => {
  it('classifies every metric field exactly once', () => {
    const all = [...MAX_FIELDS, ...SUM_FIELDS, ...AVERAGE_FIELDS].sort();
    expect(all).toEqual([...METRIC_FIELDS].sort());
  });

  describe(bucketWidthMs.name, () => {
    it.each(Object.entries(HISTORY_RANGES))(
      '%s never yields more than 300 buckets, at any alignment',
      (_, rangeMs) => {
        const width = bucketWidthMs(rangeMs, MINUTE);
        for (const offset of [0, 1, width / 2, width - 1, 1_700_000_000_123]) {
          const first = Math.floor(offset / width);
          const last = Math.floor((offset + rangeMs - 1) / width);
          expect(last - first + 1).toBeLessThanOrEqual(MAX_POINTS_PER_SERIES);
        }
      },
    );

    it('is never narrower than the snapshot interval', () => {
      expect(bucketWidthMs(HISTORY_RANGES['1h'], MINUTE)).toBe(MINUTE);
      expect(bucketWidthMs(HISTORY_RANGES['1h'], 5 * MINUTE)).toBe(5 * MINUTE);
      expect(bucketWidthMs(HISTORY_RANGES['30d'], MINUTE)).toBeGreaterThan(MINUTE);
    });
  });

  describe(reduceToInstanceBuckets.name, () => {
    const query = { from: new Date(0), to: new Date(10 * MINUTE), bucketMs: 2 * MINUTE };

    it('averages per instance and bucket, keeping the maximum of latencies', () => {
      const rows = reduceToInstanceBuckets(
        [
          snapshotRecord(0, 'a', {
            connections: 10,
            cpu: 10,
            wsLatencyP95: 5,
            httpLatencyP95: 100,
            eventLoopDelayP99: 3,
          }),
          snapshotRecord(MINUTE, 'a', {
            connections: 20,
            cpu: 30,
            wsLatencyP95: 50,
            httpLatencyP95: 10,
            eventLoopDelayP99: 9,
          }),
        ],
        query,
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        bucket: 0,
        instanceId: 'a',
        samples: 2,
        connections: 15,
        cpu: 20,
        wsLatencyP95: 50,
        httpLatencyP95: 100,
        eventLoopDelayP99: 9,
      });
    });

    it('keeps [from, to) and the instance filter', () => {
      const records = [
        snapshotRecord(-1, 'a'),
        snapshotRecord(0, 'a'),
        snapshotRecord(10 * MINUTE - 1, 'b'),
        snapshotRecord(10 * MINUTE, 'a'),
      ];
      expect(reduceToInstanceBuckets(records, query).map((r) => [r.bucket, r.instanceId])).toEqual([
        [0, 'a'],
        [4, 'b'],
      ]);
      expect(
        reduceToInstanceBuckets(records, { ...query, instanceId: 'b' }).map((r) => r.instanceId),
      ).toEqual(['b']);
    });
  });

  describe(combineInstances.name, () => {
    it('sums totals, takes the worst latency and averages ratios across instances', () => {
      const query = { from: new Date(0), to: new Date(MINUTE), bucketMs: MINUTE };
      const rows = reduceToInstanceBuckets(
        [
          snapshotRecord(1000, 'a', {
            connections: 10,
            uniqueUsers: 4,
            eventsPerSecond: 1.5,
            rss: 100,
            heapUsed: 10,
          }),
          snapshotRecord(2000, 'b', {
            connections: 30,
            uniqueUsers: 6,
            eventsPerSecond: 2.5,
            rss: 300,
            heapUsed: 30,
          }),
          snapshotRecord(1000, 'a', {
            cpu: 20,
            httpErrorRate: 0,
            wsLatencyP95: 7,
            httpLatencyP95: 70,
            eventLoopDelayP99: 1,
          }),
          snapshotRecord(2000, 'b', {
            cpu: 60,
            httpErrorRate: 4,
            wsLatencyP95: 9,
            httpLatencyP95: 30,
            eventLoopDelayP99: 8,
          }),
        ],
        query,
      );
      const { points, instances } = combineInstances(rows, MINUTE);
      expect(instances).toEqual(['a', 'b']);
      expect(points).toHaveLength(1);
      const [p] = points;
      expect(p.timestamp).toBe(new Date(0).toISOString());
      expect(p.instances).toBe(2);
      // a: averages of its two snapshots; b likewise; then summed.
      expect(p.connections).toBe((10 + 10) / 2 + (30 + 10) / 2);
      expect(p.uniqueUsers).toBe((4 + 5) / 2 + (6 + 5) / 2);
      expect(p.eventsPerSecond).toBe((1.5 + 2) / 2 + (2.5 + 2) / 2);
      expect(p.rss).toBe(Math.round((100 + 100_000_000) / 2 + (300 + 100_000_000) / 2));
      expect(p.cpu).toBe(((10 + 20) / 2 + (10 + 60) / 2) / 2);
      expect(p.httpErrorRate).toBe(((1 + 0) / 2 + (1 + 4) / 2) / 2);
      expect(p.wsLatencyP95).toBe(20);
      expect(p.httpLatencyP95).toBe(70);
      expect(p.eventLoopDelayP99).toBe(15);
    });

    it('orders points oldest first and stamps each with its bucket start', () => {
      const rows = reduceToInstanceBuckets(
        [
          snapshotRecord(5 * MINUTE, 'a'),
          snapshotRecord(MINUTE + 30_000, 'a'),
          snapshotRecord(3 * MINUTE, 'b'),
        ],
        { from: new Date(0), to: new Date(10 * MINUTE), bucketMs: MINUTE },
      );
      const { points } = combineInstances(rows, MINUTE);
      expect(points.map((p) => p.timestamp)).toEqual(
        [MINUTE, 3 * MINUTE, 5 * MINUTE].map((t) => new Date(t).toISOString()),
      );
    });

    it('answers no points for no rows', () => {
      expect(combineInstances([], MINUTE)).toEqual({ points: [], instances: [] });
    });
  });
});
