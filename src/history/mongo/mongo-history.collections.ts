import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectConnection } from '@nestjs/mongoose';
import type { Connection, Model } from 'mongoose';
import type { Db } from 'mongodb';
import { AppConfig } from '../../config/app-config';
import { errorMessage, withTimeout } from '../../common/with-timeout';
import { DatabaseService } from '../../database/database.service';
import { AlertTransition, HistoryUnavailableError, MetricSnapshotRecord } from '../history.types';
import {
  ALERT_TRANSITION_MODEL,
  ALERT_TRANSITIONS_COLLECTION,
  alertTransitionSchema,
  METRIC_SNAPSHOT_MODEL,
  METRIC_SNAPSHOTS_COLLECTION,
  metricSnapshotSchema,
} from './history.schemas';

/** Setting up collections and indexes may take longer than a read; it runs in the background. */
const SETUP_TIMEOUT_MS = 15_000;
const SETUP_RETRY_MS = 30_000;
const NAMESPACE_EXISTS = 48;
const INDEX_OPTIONS_CONFLICT = 85;
const INDEX_KEY_SPECS_CONFLICT = 86;

export type MetricsCollectionKind = 'timeseries' | 'plain';

/**
 * The history collections on the shared Mongoose connection. Creates them, with their indexes, each time the
 * connection comes up (it may come up long after boot, or never), then tells the stores to write what they
 * buffered. Metric snapshots go to a time-series collection (timeField `timestamp`, metaField `instanceId`)
 * expiring after METRICS_RETENTION_DAYS; where the server cannot create one (before MongoDB 5.0), a plain
 * collection with a TTL index, said once in the log. Alert transitions expire after ALERT_RETENTION_DAYS.
 */
@Injectable()
export class MongoHistoryCollections implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(MongoHistoryCollections.name);
  readonly metrics: Model<MetricSnapshotRecord>;
  readonly alerts: Model<AlertTransition>;
  private readyFlag = false;
  private settingUp: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly readyListeners: Array<() => void> = [];
  metricsKind: MetricsCollectionKind | null = null;

  constructor(
    @InjectConnection() private readonly connection: Connection,
    private readonly database: DatabaseService,
    private readonly config: AppConfig,
  ) {
    // Reuse models already declared on this connection (a second instance must not throw OverwriteModelError).
    this.metrics =
      (connection.models[METRIC_SNAPSHOT_MODEL] as Model<MetricSnapshotRecord> | undefined) ??
      connection.model<MetricSnapshotRecord>(METRIC_SNAPSHOT_MODEL, metricSnapshotSchema);
    this.alerts =
      (connection.models[ALERT_TRANSITION_MODEL] as Model<AlertTransition> | undefined) ??
      connection.model<AlertTransition>(ALERT_TRANSITION_MODEL, alertTransitionSchema);
  }

  private readonly onConnected = () => void this.setUp();
  private readonly onDisconnected = () => {
    this.readyFlag = false;
  };

  onModuleInit(): void {
    if (!this.database.isConfigured) return;
    this.connection.on('connected', this.onConnected);
    this.connection.on('disconnected', this.onDisconnected);
    if (this.database.isConnected) void this.setUp();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.connection.off('connected', this.onConnected);
    this.connection.off('disconnected', this.onDisconnected);
  }

  /** Connected, with the collections and indexes in place. */
  get canWrite(): boolean {
    return this.readyFlag && this.database.isConnected;
  }

  /** Called each time the collections become ready (after a connect or reconnect). */
  onReady(listener: () => void): void {
    this.readyListeners.push(listener);
  }

  /**
   * Runs a read under HEALTH_CHECK_TIMEOUT_MS. Anything that stops it (not connected, slow, failing) becomes a
   * HistoryUnavailableError, which the controller answers with 503.
   */
  async read<T>(run: (maxTimeMS: number) => Promise<T>): Promise<T> {
    const timeoutMs = this.config.healthCheckTimeoutMs;
    if (!this.database.isConnected) {
      throw new HistoryUnavailableError('History is unavailable: MongoDB is not connected');
    }
    try {
      return await withTimeout(run(timeoutMs), timeoutMs, `MongoDB did not answer within ${timeoutMs}ms`);
    } catch (err) {
      throw new HistoryUnavailableError(`History is unavailable: ${errorMessage(err)}`);
    }
  }

  /** Creates what is missing. Idempotent; concurrent calls share one run. */
  setUp(): Promise<void> {
    if (this.settingUp === null) {
      this.settingUp = this.runSetUp().finally(() => {
        this.settingUp = null;
      });
    }
    return this.settingUp;
  }

  private async runSetUp(): Promise<void> {
    const db = this.connection.db;
    if (this.stopped || db === undefined || !this.database.isConnected) return;
    try {
      await withTimeout(
        this.createCollections(db),
        SETUP_TIMEOUT_MS,
        `History set-up took over ${SETUP_TIMEOUT_MS}ms`,
      );
    } catch (err) {
      this.logger.error({ message: 'Creating the history collections failed; retrying', err });
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => void this.setUp(), SETUP_RETRY_MS);
      this.retryTimer.unref();
      return;
    }
    this.readyFlag = true;
    for (const listener of this.readyListeners) listener();
  }

  private async createCollections(db: Db): Promise<void> {
    const {
      metricsRetentionSeconds: metricsTtl,
      alertRetentionSeconds: alertsTtl,
      snapshotIntervalMs,
    } = this.config.history;

    this.metricsKind = await this.ensureMetricsCollection(db, metricsTtl, snapshotIntervalMs);
    if (this.metricsKind === 'plain') {
      await ensureTtlIndex(db, METRIC_SNAPSHOTS_COLLECTION, 'timestamp_ttl', metricsTtl);
      await db.collection(METRIC_SNAPSHOTS_COLLECTION).createIndex({ instanceId: 1, timestamp: 1 });
    }

    await createIfMissing(db, ALERT_TRANSITIONS_COLLECTION);
    await ensureTtlIndex(db, ALERT_TRANSITIONS_COLLECTION, 'timestamp_ttl', alertsTtl);
    await db.collection(ALERT_TRANSITIONS_COLLECTION).createIndex({ instanceId: 1, timestamp: 1 });
  }

  private async ensureMetricsCollection(
    db: Db,
    ttlSeconds: number,
    intervalMs: number,
  ): Promise<MetricsCollectionKind> {
    let info = await collectionInfo(db, METRIC_SNAPSHOTS_COLLECTION);
    if (info === null) {
      try {
        await db.createCollection(METRIC_SNAPSHOTS_COLLECTION, {
          timeseries: {
            timeField: 'timestamp',
            metaField: 'instanceId',
            granularity: granularityFor(intervalMs),
          },
          expireAfterSeconds: ttlSeconds,
        });
        this.logger.log({ message: 'Created the time-series collection for metric history', ttlSeconds });
        return 'timeseries';
      } catch (err) {
        if (codeOf(err) !== NAMESPACE_EXISTS) {
          this.logger.warn({
            message:
              'MongoDB could not create a time-series collection (it needs MongoDB 5.0 or later): metric history uses a plain collection with a TTL index',
            reason: errorMessage(err),
          });
          await createIfMissing(db, METRIC_SNAPSHOTS_COLLECTION);
          return 'plain';
        }
        info = await collectionInfo(db, METRIC_SNAPSHOTS_COLLECTION); // another replica created it meanwhile
      }
    }
    if (info?.type !== 'timeseries') return 'plain';
    if (info.options?.expireAfterSeconds !== ttlSeconds) {
      // Retention changed since the collection was made: follow the configuration.
      await db.command({ collMod: METRIC_SNAPSHOTS_COLLECTION, expireAfterSeconds: ttlSeconds });
      this.logger.log({ message: 'Updated metric history retention', ttlSeconds });
    }
    return 'timeseries';
  }
}

interface CollectionInfoLite {
  type?: string;
  options?: { expireAfterSeconds?: number };
}

async function collectionInfo(db: Db, name: string): Promise<CollectionInfoLite | null> {
  const [info] = await db.listCollections({ name }).toArray();
  return info ?? null;
}

async function createIfMissing(db: Db, name: string): Promise<void> {
  try {
    await db.createCollection(name);
  } catch (err) {
    if (codeOf(err) !== NAMESPACE_EXISTS) throw err;
  }
}

/** A TTL index on `timestamp`; an existing one with another expiry is changed in place (collMod), not rebuilt. */
async function ensureTtlIndex(db: Db, collection: string, name: string, ttlSeconds: number): Promise<void> {
  try {
    await db.collection(collection).createIndex({ timestamp: 1 }, { name, expireAfterSeconds: ttlSeconds });
  } catch (err) {
    const code = codeOf(err);
    if (code !== INDEX_OPTIONS_CONFLICT && code !== INDEX_KEY_SPECS_CONFLICT) throw err;
    await db.command({ collMod: collection, index: { name, expireAfterSeconds: ttlSeconds } });
  }
}

export function granularityFor(intervalMs: number): 'seconds' | 'minutes' | 'hours' {
  if (intervalMs < 60_000) return 'seconds';
  if (intervalMs < 3_600_000) return 'minutes';
  return 'hours';
}

export function codeOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
