import { Logger } from '@nestjs/common';
import { Types } from 'mongoose';
import type { PipelineStage } from 'mongoose';
import { AppConfig } from '../../config/app-config';
import { combineInstances, MAX_FIELDS } from '../downsample';
import {
  AlertTransition,
  InstanceBucket,
  METRIC_FIELDS,
  MAX_PROCESS_STARTS,
  MetricHistoryQuery,
  ProcessStart,
  MetricHistorySeries,
  MetricSnapshotRecord,
  MetricsHistoryStore,
  QueryableAlertHistoryStore,
} from '../history.types';
import { codeOf, MongoHistoryCollections } from './mongo-history.collections';
import { WriteBuffer } from './write-buffer';

/** Records held per store while MongoDB is away (about 16 h of snapshots at the default interval). */
export const MONGO_WRITE_BUFFER_CAPACITY = 1000;
const WRITE_BATCH_SIZE = 200;
const DUPLICATE_KEY = 11000;

/**
 * A retried batch may contain records a timed-out attempt did write after all: with client-made _ids those
 * come back as duplicate-key errors, which mean "already there".
 */
function ignoreDuplicates(err: unknown): void {
  const writeErrors = (err as { writeErrors?: unknown } | null)?.writeErrors;
  const codes = Array.isArray(writeErrors) ? writeErrors.map(codeOf) : [codeOf(err)];
  if (codes.length === 0 || codes.some((c) => c !== DUPLICATE_KEY)) throw err;
}

function writeBuffer<T>(
  name: string,
  collections: MongoHistoryCollections,
  config: AppConfig,
  insert: (b: T[]) => Promise<void>,
) {
  return new WriteBuffer<T>({
    name,
    capacity: MONGO_WRITE_BUFFER_CAPACITY,
    timeoutMs: config.healthCheckTimeoutMs,
    batchSize: WRITE_BATCH_SIZE,
    canWrite: () => collections.canWrite,
    insert,
    logger: new Logger(`HistoryWriter(${name})`),
  });
}

export class MongoMetricsHistoryStore implements MetricsHistoryStore {
  readonly backend = 'mongodb' as const;
  private readonly buffer: WriteBuffer<MetricSnapshotRecord & { _id: Types.ObjectId }>;

  constructor(
    private readonly collections: MongoHistoryCollections,
    config: AppConfig,
  ) {
    this.buffer = writeBuffer('metric snapshots', collections, config, async (batch) => {
      await collections.metrics.insertMany(batch, { ordered: false, lean: true }).catch(ignoreDuplicates);
    });
    collections.onReady(() => void this.buffer.flush());
  }

  get pendingWrites(): number {
    return this.buffer.pending;
  }

  append(record: MetricSnapshotRecord): Promise<void> {
    return this.buffer.add({ ...record, timestamp: new Date(record.timestamp), _id: new Types.ObjectId() });
  }

  flush(): Promise<void> {
    return this.buffer.flush();
  }

  series(query: MetricHistoryQuery): Promise<MetricHistorySeries> {
    const match: Record<string, unknown> = { timestamp: { $gte: query.from, $lt: query.to } };
    if (query.instanceId !== undefined) match.instanceId = query.instanceId;
    const reduce = Object.fromEntries(
      METRIC_FIELDS.map((f) => [f, { [MAX_FIELDS.includes(f) ? '$max' : '$avg']: `$${f}` }]),
    );
    const pipeline: PipelineStage[] = [
      { $match: match },
      {
        $group: {
          _id: { b: { $floor: { $divide: [{ $toLong: '$timestamp' }, query.bucketMs] } }, i: '$instanceId' },
          samples: { $sum: 1 },
          ...reduce,
        },
      },
    ];
    return this.collections.read(async (maxTimeMS) => {
      const rows = await this.collections.metrics
        .aggregate<{ _id: { b: number; i: string }; samples: number } & Record<string, number>>(pipeline)
        .option({ maxTimeMS });
      const buckets: InstanceBucket[] = rows.map(({ _id, samples, ...values }) => {
        const row = { bucket: _id.b, instanceId: _id.i, samples } as InstanceBucket;
        for (const f of METRIC_FIELDS) row[f] = Number(values[f] ?? 0);
        return row;
      });
      return combineInstances(buckets, query.bucketMs);
    });
  }

  starts(query: Omit<MetricHistoryQuery, 'bucketMs'>): Promise<ProcessStart[]> {
    const match: Record<string, unknown> = {
      timestamp: { $gte: query.from, $lt: query.to },
      startedAt: { $gte: query.from, $lt: query.to },
    };
    if (query.instanceId !== undefined) match.instanceId = query.instanceId;
    const pipeline: PipelineStage[] = [
      { $match: match },
      { $group: { _id: { i: '$instanceId', s: '$startedAt' }, version: { $first: '$version' } } },
      { $sort: { '_id.s': -1 } },
      { $limit: MAX_PROCESS_STARTS },
    ];
    return this.collections.read(async (maxTimeMS) => {
      const rows = await this.collections.metrics
        .aggregate<{ _id: { i: string; s: Date }; version?: string }>(pipeline)
        .option({ maxTimeMS });
      return rows
        .map((r) => ({ instanceId: r._id.i, version: r.version ?? '', startedAt: new Date(r._id.s) }))
        .reverse();
    });
  }
}

type AlertDoc = AlertTransition & { _id: Types.ObjectId };

function toTransition({
  key,
  from,
  to,
  message,
  value,
  threshold,
  timestamp,
  instanceId,
}: AlertTransition): AlertTransition {
  return { key, from, to, message, value, threshold, timestamp: new Date(timestamp), instanceId };
}

export class MongoAlertHistoryStore implements QueryableAlertHistoryStore {
  private readonly buffer: WriteBuffer<AlertDoc>;

  constructor(
    private readonly collections: MongoHistoryCollections,
    config: AppConfig,
  ) {
    this.buffer = writeBuffer('alert transitions', collections, config, async (batch) => {
      await collections.alerts.insertMany(batch, { ordered: false, lean: true }).catch(ignoreDuplicates);
    });
    collections.onReady(() => void this.buffer.flush());
  }

  get pendingWrites(): number {
    return this.buffer.pending;
  }

  append(transition: AlertTransition): Promise<void> {
    return this.buffer.add({ ...toTransition(transition), _id: new Types.ObjectId() });
  }

  flush(): Promise<void> {
    return this.buffer.flush();
  }

  recent(limit: number): Promise<AlertTransition[]> {
    if (limit <= 0) return Promise.resolve([]);
    return this.collections.read(async (maxTimeMS) => {
      const docs = await this.collections.alerts
        .find({}, null, { maxTimeMS })
        .sort({ timestamp: -1, _id: -1 })
        .limit(limit)
        .lean<AlertTransition[]>();
      return docs.map(toTransition);
    });
  }

  between(from: Date, to: Date, limit: number, instanceId?: string): Promise<AlertTransition[]> {
    if (limit <= 0) return Promise.resolve([]);
    const filter: Record<string, unknown> = { timestamp: { $gte: from, $lt: to } };
    if (instanceId !== undefined) filter.instanceId = instanceId;
    return this.collections.read(async (maxTimeMS) => {
      const docs = await this.collections.alerts
        .find(filter, null, { maxTimeMS })
        .sort({ timestamp: -1, _id: -1 })
        .limit(limit)
        .lean<AlertTransition[]>();
      return docs.map(toTransition).reverse();
    });
  }
}
