import {
  InstanceBucket,
  MAX_POINTS_PER_SERIES,
  METRIC_FIELDS,
  MetricField,
  MetricHistoryPoint,
  MetricHistoryQuery,
  MetricHistorySeries,
  MetricSnapshotRecord,
} from './history.types';

/**
 * How history is reduced to at most MAX_POINTS_PER_SERIES points per series, in two steps shared by both stores:
 * 1. per instance and bucket (in memory here, in MongoDB by an aggregation): the average of each field, except
 *    the latency fields, which keep their maximum so a short spike is never averaged away;
 * 2. across instances inside a bucket (combineInstances): totals are summed (connections, users, events/s,
 *    memory), latencies take the worst instance, and ratios (CPU %, HTTP error rate) are averaged.
 */

/** Latency fields: the maximum within an instance's bucket and across instances. */
export const MAX_FIELDS: readonly MetricField[] = ['wsLatencyP95', 'httpLatencyP95', 'eventLoopDelayP99'];
/** Totals: summed across instances (a user connected to two instances counts on both). */
export const SUM_FIELDS: readonly MetricField[] = [
  'connections',
  'uniqueUsers',
  'eventsPerSecond',
  'rss',
  'heapUsed',
];
/** Ratios: averaged across instances (unweighted: each instance counts once). */
export const AVERAGE_FIELDS: readonly MetricField[] = ['cpu', 'httpErrorRate'];

const BYTE_FIELDS: readonly MetricField[] = ['rss', 'heapUsed'];

/**
 * The bucket width for a range: wide enough for at most MAX_POINTS_PER_SERIES epoch-aligned buckets (a range
 * can straddle one extra partial bucket, hence the - 1), in whole seconds, and never narrower than the snapshot
 * interval: a narrower bucket would hold some instances' snapshots but not others', and the cross-instance sums
 * would jump between instances instead of adding them up.
 */
export function bucketWidthMs(rangeMs: number, snapshotIntervalMs: number): number {
  const forPointLimit = Math.ceil(rangeMs / (MAX_POINTS_PER_SERIES - 1) / 1000) * 1000;
  return Math.max(forPointLimit, snapshotIntervalMs);
}

export function bucketOf(timestampMs: number, bucketMs: number): number {
  return Math.floor(timestampMs / bucketMs);
}

/** Step 1 in memory: what the MongoDB store's $group stage computes. */
export function reduceToInstanceBuckets(
  records: Iterable<MetricSnapshotRecord>,
  query: MetricHistoryQuery,
): InstanceBucket[] {
  const from = query.from.getTime();
  const to = query.to.getTime();
  const groups = new Map<string, InstanceBucket>();
  for (const r of records) {
    const t = r.timestamp.getTime();
    if (t < from || t >= to) continue;
    if (query.instanceId !== undefined && r.instanceId !== query.instanceId) continue;
    const bucket = bucketOf(t, query.bucketMs);
    const key = `${bucket}\u0000${r.instanceId}`;
    let g = groups.get(key);
    if (g === undefined) {
      g = { bucket, instanceId: r.instanceId, samples: 0 } as InstanceBucket;
      for (const f of METRIC_FIELDS) g[f] = MAX_FIELDS.includes(f) ? -Infinity : 0;
      groups.set(key, g);
    }
    g.samples++;
    for (const f of METRIC_FIELDS) {
      if (MAX_FIELDS.includes(f)) g[f] = Math.max(g[f], r[f]);
      else g[f] += r[f];
    }
  }
  const out = [...groups.values()];
  for (const g of out) {
    for (const f of METRIC_FIELDS) if (!MAX_FIELDS.includes(f)) g[f] /= g.samples;
  }
  return out;
}

/** Step 2, shared by both stores: one point per bucket, oldest first. */
export function combineInstances(rows: readonly InstanceBucket[], bucketMs: number): MetricHistorySeries {
  const byBucket = new Map<number, InstanceBucket[]>();
  const instances = new Set<string>();
  for (const row of rows) {
    instances.add(row.instanceId);
    const list = byBucket.get(row.bucket);
    if (list === undefined) byBucket.set(row.bucket, [row]);
    else list.push(row);
  }
  const points: MetricHistoryPoint[] = [...byBucket.entries()]
    .sort(([a], [b]) => a - b)
    .map(([bucket, list]) => {
      const point = {
        timestamp: new Date(bucket * bucketMs).toISOString(),
        instances: list.length,
      } as MetricHistoryPoint;
      for (const f of METRIC_FIELDS) point[f] = round(f, combineField(f, list));
      return point;
    });
  return { points, instances: [...instances].sort() };
}

function combineField(field: MetricField, list: readonly InstanceBucket[]): number {
  if (MAX_FIELDS.includes(field)) return Math.max(...list.map((r) => r[field]));
  const sum = list.reduce((acc, r) => acc + r[field], 0);
  return SUM_FIELDS.includes(field) ? sum : sum / list.length;
}

function round(field: MetricField, value: number): number {
  if (!Number.isFinite(value)) return 0;
  if (BYTE_FIELDS.includes(field)) return Math.round(value);
  return Math.round(value * 1000) / 1000;
}
