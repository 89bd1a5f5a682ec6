import { combineInstances, reduceToInstanceBuckets } from './downsample';
import {
  AlertTransition,
  MAX_PROCESS_STARTS,
  MetricHistoryQuery,
  MetricHistorySeries,
  MetricSnapshotRecord,
  MetricsHistoryStore,
  ProcessStart,
  QueryableAlertHistoryStore,
} from './history.types';
import { RingBuffer } from './ring-buffer';

/** In-memory retention of metric snapshots: one day. */
export const MEMORY_METRICS_RETENTION_MS = 86_400_000;
/** Upper bound per instance whatever the interval (one day at intervals of 864 ms or more). */
export const MEMORY_MAX_SNAPSHOTS_PER_INSTANCE = 100_000;
/** In memory only this process writes; a few slots leave room for a changed instance id without growing. */
export const MEMORY_MAX_INSTANCES = 8;
export const MEMORY_ALERT_CAPACITY = 1000;

/** Snapshots that cover one day at the given interval, within the per-instance bound. */
export function memorySnapshotCapacity(snapshotIntervalMs: number): number {
  return Math.min(
    MEMORY_MAX_SNAPSHOTS_PER_INSTANCE,
    Math.ceil(MEMORY_METRICS_RETENTION_MS / snapshotIntervalMs),
  );
}

/** The default metric history: a ring buffer per instance, lost on restart. */
export class InMemoryMetricsHistoryStore implements MetricsHistoryStore {
  readonly backend = 'memory' as const;
  private readonly buffers = new Map<string, RingBuffer<MetricSnapshotRecord>>();

  constructor(readonly capacityPerInstance: number) {}

  append(record: MetricSnapshotRecord): Promise<void> {
    let buffer = this.buffers.get(record.instanceId);
    if (buffer === undefined) {
      if (this.buffers.size >= MEMORY_MAX_INSTANCES) this.evictStalestInstance();
      buffer = new RingBuffer(this.capacityPerInstance);
      this.buffers.set(record.instanceId, buffer);
    }
    buffer.push({
      ...record,
      timestamp: new Date(record.timestamp),
      ...(record.startedAt === undefined ? {} : { startedAt: new Date(record.startedAt) }),
    });
    return Promise.resolve();
  }

  series(query: MetricHistoryQuery): Promise<MetricHistorySeries> {
    const buffers =
      query.instanceId === undefined ? [...this.buffers.values()] : [this.buffers.get(query.instanceId)];
    const rows = buffers.flatMap((b) => (b === undefined ? [] : reduceToInstanceBuckets(b, query)));
    return Promise.resolve(combineInstances(rows, query.bucketMs));
  }

  starts(query: Omit<MetricHistoryQuery, 'bucketMs'>): Promise<ProcessStart[]> {
    const from = query.from.getTime();
    const to = query.to.getTime();
    const seen = new Map<string, ProcessStart>();
    for (const [instanceId, buffer] of this.buffers) {
      if (query.instanceId !== undefined && instanceId !== query.instanceId) continue;
      for (const r of buffer) {
        const t = r.timestamp.getTime();
        const started = r.startedAt?.getTime();
        if (t < from || t >= to || started === undefined || started < from || started >= to) continue;
        const key = `${instanceId}\n${started}`;
        if (!seen.has(key))
          seen.set(key, { instanceId, version: r.version ?? '', startedAt: new Date(started) });
      }
    }
    const all = [...seen.values()].sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
    return Promise.resolve(all.slice(-MAX_PROCESS_STARTS));
  }

  /** Snapshots held for an instance (for tests and diagnostics). */
  sizeOf(instanceId: string): number {
    return this.buffers.get(instanceId)?.size ?? 0;
  }

  private evictStalestInstance(): void {
    let stalest: string | undefined;
    let stalestAt = Infinity;
    for (const [id, buffer] of this.buffers) {
      const newest = buffer.at(buffer.size - 1)?.timestamp.getTime() ?? -Infinity;
      if (newest < stalestAt) {
        stalestAt = newest;
        stalest = id;
      }
    }
    if (stalest !== undefined) this.buffers.delete(stalest);
  }
}

/** The default alert history: the last MEMORY_ALERT_CAPACITY transitions, lost on restart. */
export class InMemoryAlertHistoryStore implements QueryableAlertHistoryStore {
  private readonly buffer: RingBuffer<AlertTransition>;

  constructor(capacity = MEMORY_ALERT_CAPACITY) {
    this.buffer = new RingBuffer(capacity);
  }

  append(transition: AlertTransition): Promise<void> {
    this.buffer.push({ ...transition, timestamp: new Date(transition.timestamp) });
    return Promise.resolve();
  }

  /** Newest first by timestamp, as the MongoDB store answers (appends normally arrive in that order anyway). */
  recent(limit: number): Promise<AlertTransition[]> {
    if (limit <= 0) return Promise.resolve([]);
    const all = this.buffer.newest(this.buffer.capacity);
    return Promise.resolve(all.sort((a, b) => b.timestamp.getTime() - a.timestamp.getTime()).slice(0, limit));
  }

  between(from: Date, to: Date, limit: number, instanceId?: string): Promise<AlertTransition[]> {
    const lo = from.getTime();
    const hi = to.getTime();
    const hits: AlertTransition[] = [];
    for (const t of this.buffer) {
      const at = t.timestamp.getTime();
      if (at >= lo && at < hi && (instanceId === undefined || t.instanceId === instanceId)) hits.push(t);
    }
    hits.sort((a, b) => a.timestamp.getTime() - b.timestamp.getTime());
    return Promise.resolve(limit > 0 ? hits.slice(-limit) : []);
  }
}
