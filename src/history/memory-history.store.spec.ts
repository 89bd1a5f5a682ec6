import { bucketWidthMs } from './downsample';
import { alertTransition, snapshotRecord } from '../../test/fixtures/history';
import { HISTORY_RANGES, MAX_POINTS_PER_SERIES } from './history.types';
import {
  InMemoryAlertHistoryStore,
  InMemoryMetricsHistoryStore,
  MEMORY_MAX_INSTANCES,
  MEMORY_MAX_SNAPSHOTS_PER_INSTANCE,
  memorySnapshotCapacity,
} from './memory-history.store';

const MINUTE = 60_000;
const DAY = 86_400_000;
const NOW = Date.UTC(2025, 0, 31, 12, 0, 0);

function rangeQuery(range: keyof typeof HISTORY_RANGES, instanceId?: string, intervalMs = MINUTE) {
  const rangeMs = HISTORY_RANGES[range];
  return {
    from: new Date(NOW - rangeMs),
    to: new Date(NOW),
    bucketMs: bucketWidthMs(rangeMs, intervalMs),
    instanceId,
  };
}

describe(InMemoryMetricsHistoryStore.name, () => {
  it('lists each process start in the range once, oldest first, per instance when asked', async () => {
    const store = new InMemoryMetricsHistoryStore(1000);
    const started = (minutesAgo: number) => new Date(NOW - minutesAgo * MINUTE);
    for (let k = 90; k >= 1; k--) {
      // Instance a: a process started 120 min ago (before the hour), another 40 min ago; b started 10 min ago.
      const a = k > 40 ? { version: '1', startedAt: started(120) } : { version: '2', startedAt: started(40) };
      await store.append(snapshotRecord(NOW - k * MINUTE, 'a', a));
      if (k <= 10)
        await store.append(snapshotRecord(NOW - k * MINUTE, 'b', { version: '2', startedAt: started(10) }));
    }
    // A snapshot without the fields (written before they existed) marks nothing.
    await store.append(snapshotRecord(NOW - 5 * MINUTE, 'c'));
    const { from, to } = rangeQuery('1h');
    expect(await store.starts({ from, to })).toEqual([
      { instanceId: 'a', version: '2', startedAt: started(40) },
      { instanceId: 'b', version: '2', startedAt: started(10) },
    ]);
    expect(await store.starts({ from, to, instanceId: 'b' })).toEqual([
      { instanceId: 'b', version: '2', startedAt: started(10) },
    ]);
    const day = rangeQuery('24h');
    expect((await store.starts({ from: day.from, to: day.to })).map((s) => s.version)).toEqual([
      '1',
      '2',
      '2',
    ]);
  });

  it('holds one day of snapshots at the configured interval', () => {
    expect(memorySnapshotCapacity(MINUTE)).toBe(1440);
    expect(memorySnapshotCapacity(7 * MINUTE)).toBe(Math.ceil(DAY / (7 * MINUTE)));
    expect(memorySnapshotCapacity(100)).toBe(MEMORY_MAX_SNAPSHOTS_PER_INSTANCE);
  });

  it('is bounded: older snapshots fall out beyond one day', async () => {
    const store = new InMemoryMetricsHistoryStore(memorySnapshotCapacity(MINUTE));
    for (let i = 0; i < 2000; i++)
      await store.append(snapshotRecord(NOW - (2000 - i) * MINUTE, 'a', { connections: i }));
    expect(store.sizeOf('a')).toBe(1440);
    const { points } = await store.series({ from: new Date(0), to: new Date(NOW), bucketMs: MINUTE });
    expect(points).toHaveLength(1440);
    expect(points[0].connections).toBe(560);
    expect(points[1439].connections).toBe(1999);
  });

  it('bounds the number of instances, evicting the one silent for longest', async () => {
    const store = new InMemoryMetricsHistoryStore(10);
    for (let i = 0; i <= MEMORY_MAX_INSTANCES; i++)
      await store.append(snapshotRecord(NOW - 1000 + i, `i${i}`));
    expect(store.sizeOf('i0')).toBe(0);
    expect(store.sizeOf(`i${MEMORY_MAX_INSTANCES}`)).toBe(1);
    expect(store.sizeOf('i1')).toBe(1);
  });

  it("stores a copy: later changes to the caller's object do not rewrite history", async () => {
    const store = new InMemoryMetricsHistoryStore(10);
    const record = snapshotRecord(NOW - 1000, 'a', { connections: 1 });
    await store.append(record);
    record.connections = 999;
    record.timestamp.setTime(0);
    const { points } = await store.series(rangeQuery('1h'));
    expect(points[0].connections).toBe(1);
  });

  describe('ranges and downsampling', () => {
    let store: InMemoryMetricsHistoryStore;
    beforeAll(async () => {
      // Two instances, one snapshot a minute for 24 h (a at :00, b at :30, as two real replicas would be).
      store = new InMemoryMetricsHistoryStore(memorySnapshotCapacity(MINUTE));
      for (let i = 1; i <= 1440; i++) {
        await store.append(
          snapshotRecord(NOW - i * MINUTE, 'a', { connections: 10, wsLatencyP95: i === 30 ? 900 : 20 }),
        );
        await store.append(
          snapshotRecord(NOW - i * MINUTE + 30_000, 'b', { connections: 5, wsLatencyP95: 10 }),
        );
      }
    });

    it('1h: one point per minute, both instances summed in every bucket', async () => {
      const { points, instances } = await store.series(rangeQuery('1h'));
      expect(instances).toEqual(['a', 'b']);
      expect(points).toHaveLength(60);
      for (const p of points) {
        expect(p.instances).toBe(2);
        expect(p.connections).toBe(15);
      }
      expect(new Date(points[0].timestamp).getTime()).toBe(NOW - 60 * MINUTE);
    });

    it('24h: at most 300 points, every snapshot counted, and a latency spike survives as the maximum', async () => {
      const { points } = await store.series(rangeQuery('24h'));
      expect(points.length).toBeLessThanOrEqual(MAX_POINTS_PER_SERIES);
      expect(points.length).toBeGreaterThan(280);
      expect(points.every((p) => p.connections === 15 && p.instances === 2)).toBe(true);
      expect(Math.max(...points.map((p) => p.wsLatencyP95))).toBe(900);
      expect(points.filter((p) => p.wsLatencyP95 === 900)).toHaveLength(1);
    });

    it('7d and 30d: still at most 300 points, with only the day held in memory', async () => {
      for (const range of ['7d', '30d'] as const) {
        const { points } = await store.series(rangeQuery(range));
        expect(points.length).toBeLessThanOrEqual(MAX_POINTS_PER_SERIES);
        expect(points.length).toBeGreaterThan(0);
        const first = new Date(points[0].timestamp).getTime();
        expect(first).toBeGreaterThanOrEqual(NOW - DAY - rangeQuery(range).bucketMs);
      }
    });

    it('instance filter: only that instance', async () => {
      const { points, instances } = await store.series(rangeQuery('1h', 'b'));
      expect(instances).toEqual(['b']);
      expect(points).toHaveLength(60);
      expect(points.every((p) => p.connections === 5 && p.instances === 1 && p.wsLatencyP95 === 10)).toBe(
        true,
      );
    });

    it('unknown instance: no points', async () => {
      expect(await store.series(rangeQuery('1h', 'nobody'))).toEqual({ points: [], instances: [] });
    });
  });
});

describe(InMemoryAlertHistoryStore.name, () => {
  it('keeps the last 1,000 transitions and answers recent() newest first', async () => {
    const store = new InMemoryAlertHistoryStore();
    for (let i = 0; i < 1500; i++) await store.append(alertTransition(NOW + i, { value: i }));
    const recent = await store.recent(2000);
    expect(recent).toHaveLength(1000);
    expect(recent[0].value).toBe(1499);
    expect(recent[999].value).toBe(500);
    expect((await store.recent(3)).map((t) => t.value)).toEqual([1499, 1498, 1497]);
    expect(await store.recent(0)).toEqual([]);
  });

  it('between(): the window, oldest first, newest `limit` kept, optional instance filter', async () => {
    const store = new InMemoryAlertHistoryStore();
    for (let i = 0; i < 10; i++) {
      await store.append(alertTransition(NOW + i * 1000, { value: i, instanceId: i % 2 === 0 ? 'a' : 'b' }));
    }
    const window = await store.between(new Date(NOW + 2000), new Date(NOW + 8000), 100);
    expect(window.map((t) => t.value)).toEqual([2, 3, 4, 5, 6, 7]);
    expect((await store.between(new Date(NOW + 2000), new Date(NOW + 8000), 2)).map((t) => t.value)).toEqual([
      6, 7,
    ]);
    expect(
      (await store.between(new Date(NOW), new Date(NOW + 10_000), 100, 'b')).map((t) => t.value),
    ).toEqual([1, 3, 5, 7, 9]);
  });
});
