import { APP_VERSION } from '../common/version';
import { Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { InstanceInfo } from '../lifecycle/instance-info';
import type { MetricsService, MetricsSnapshot } from '../metrics/metrics.service';
import { metricsBody } from '../../test/fixtures/history';
import { InMemoryMetricsHistoryStore } from './memory-history.store';
import { MetricsSnapshotJob, toSnapshotRecord } from './metrics-snapshot.job';

function body(connections: number): MetricsSnapshot {
  return metricsBody({
    connections,
    uniqueUsers: 4,
    eventsPerSecond: 2.5,
    wsLatencyP95: 33,
    httpLatencyP95: 44,
    httpErrorRate: 1.5,
    cpu: 12.5,
    eventLoopDelayP99: 21,
  });
}

function setup(snapshot: () => Promise<MetricsSnapshot>, intervalMs = 1000) {
  const config = AppConfig.from({
    NODE_ENV: 'test',
    RAILWAY_REPLICA_ID: 'replica-1',
    METRICS_SNAPSHOT_INTERVAL_MS: String(intervalMs),
  });
  const metrics = { snapshot: jest.fn(snapshot) } as unknown as MetricsService & { snapshot: jest.Mock };
  const store = new InMemoryMetricsHistoryStore(100);
  const job = new MetricsSnapshotJob(metrics, store, new InstanceInfo(config), config);
  return { job, store, metrics };
}

const all = { from: new Date(0), to: new Date(8.64e15), bucketMs: 1 };

describe(MetricsSnapshotJob.name, () => {
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('maps the /metrics figures to a record, memory in bytes from this process, non-numbers to 0', () => {
    const snap = body(7);
    snap.system.eventLoopDelay.p99 = Number.NaN;
    const at = new Date(1000);
    expect(toSnapshotRecord(snap, 'i', at, { rss: 300, heapUsed: 100 })).toEqual({
      timestamp: at,
      instanceId: 'i',
      connections: 7,
      uniqueUsers: 4,
      eventsPerSecond: 2.5,
      wsLatencyP95: 33,
      httpLatencyP95: 44,
      httpErrorRate: 1.5,
      rss: 300,
      heapUsed: 100,
      cpu: 12.5,
      eventLoopDelayP99: 0,
    });
  });

  it('takes one snapshot per interval once the application is up, and stops on destroy', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    let n = 0;
    const { job, store } = setup(() => Promise.resolve(body(++n)), 1000);
    job.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(3000);
    const first = await store.series(all);
    expect(first.instances).toEqual(['replica-1']);
    let points = first.points;
    expect(points.map((p) => [p.timestamp, p.connections])).toEqual([
      [new Date(1_001_000).toISOString(), 1],
      [new Date(1_002_000).toISOString(), 2],
      [new Date(1_003_000).toISOString(), 3],
    ]);
    job.onModuleDestroy();
    await jest.advanceTimersByTimeAsync(5000);
    ({ points } = await store.series(all));
    expect(points).toHaveLength(3);
  });

  it('skips a snapshot that rejects, logging once per streak, and logs when snapshots resume', async () => {
    const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    let fail = true;
    const { job, store } = setup(() =>
      fail ? Promise.reject(new Error('WebSocket server not initialized')) : Promise.resolve(body(5)),
    );
    expect(await job.run()).toBeNull();
    expect(await job.run()).toBeNull();
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0][0]).toMatchObject({
      message: 'Metric snapshot skipped: metrics unavailable',
      reason: 'WebSocket server not initialized',
    });
    expect((await store.series(all)).points).toEqual([]);
    fail = false;
    // With the version and start of the process that took it: the history charts mark deploys from these.
    expect(await job.run()).toMatchObject({
      connections: 5,
      instanceId: 'replica-1',
      version: APP_VERSION,
      startedAt: expect.any(Date),
    });
    expect(log).toHaveBeenLastCalledWith(expect.objectContaining({ message: 'Metric snapshots resumed' }));
    expect((await store.series(all)).points).toHaveLength(1);
  });

  it('never overlaps, and a hung snapshot is given up after the interval so the schedule continues', async () => {
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const { job, metrics } = setup(() => new Promise<MetricsSnapshot>(() => undefined), 200);
    const first = job.run();
    expect(await job.run()).toBeNull(); // overlapping run refused at once
    expect(metrics.snapshot).toHaveBeenCalledTimes(1);
    expect(await first).toBeNull(); // timed out after 200 ms
    metrics.snapshot.mockImplementation(() => Promise.resolve(body(9)));
    expect(await job.run()).toMatchObject({ connections: 9 });
  });
});
