import { BeforeApplicationShutdown, Inject, Logger, Module, OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { errorMessage, withTimeout } from '../common/with-timeout';
import { DatabaseService } from '../database/database.service';
import { MetricsModule } from '../metrics/metrics.module';
import { HistoryController } from './history.controller';
import { HistoryService } from './history.service';
import {
  ALERT_HISTORY_STORE,
  AlertHistoryStore,
  METRICS_HISTORY_STORE,
  MetricsHistoryStore,
  QueryableAlertHistoryStore,
} from './history.types';
import {
  InMemoryAlertHistoryStore,
  InMemoryMetricsHistoryStore,
  MEMORY_ALERT_CAPACITY,
  memorySnapshotCapacity,
} from './memory-history.store';
import { MetricsSnapshotJob } from './metrics-snapshot.job';
import { MongoHistoryCollections } from './mongo/mongo-history.collections';
import { MongoAlertHistoryStore, MongoMetricsHistoryStore } from './mongo/mongo-history.store';

interface Flushable {
  flush(): Promise<void>;
}

function isFlushable<T extends object>(store: T): store is T & Flushable {
  return typeof (store as Partial<Flushable>).flush === 'function';
}

/**
 * Metric and alert history. The backend is chosen once at start-up: MongoDB when MONGODB_URI is set (even if
 * it is down right now: writes are buffered and reads answer 503 until it is back), memory otherwise.
 */
@Module({
  imports: [MetricsModule],
  controllers: [HistoryController],
  providers: [
    MongoHistoryCollections,
    {
      provide: METRICS_HISTORY_STORE,
      inject: [DatabaseService, MongoHistoryCollections, AppConfig],
      useFactory: (
        db: DatabaseService,
        collections: MongoHistoryCollections,
        config: AppConfig,
      ): MetricsHistoryStore =>
        db.isConfigured
          ? new MongoMetricsHistoryStore(collections, config)
          : new InMemoryMetricsHistoryStore(memorySnapshotCapacity(config.history.snapshotIntervalMs)),
    },
    {
      provide: ALERT_HISTORY_STORE,
      inject: [DatabaseService, MongoHistoryCollections, AppConfig],
      useFactory: (
        db: DatabaseService,
        collections: MongoHistoryCollections,
        config: AppConfig,
      ): QueryableAlertHistoryStore =>
        db.isConfigured ? new MongoAlertHistoryStore(collections, config) : new InMemoryAlertHistoryStore(),
    },
    HistoryService,
    MetricsSnapshotJob,
  ],
  exports: [METRICS_HISTORY_STORE, ALERT_HISTORY_STORE, MetricsSnapshotJob],
})
export class HistoryModule implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(HistoryModule.name);

  constructor(
    @Inject(METRICS_HISTORY_STORE) private readonly metrics: MetricsHistoryStore,
    @Inject(ALERT_HISTORY_STORE) private readonly alerts: AlertHistoryStore,
    private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    const { snapshotIntervalMs, metricsRetentionDays, alertRetentionDays } = this.config.history;
    if (this.metrics.backend === 'mongodb') {
      this.logger.log({
        message: 'History in MongoDB',
        metricsRetentionDays,
        alertRetentionDays,
        snapshotIntervalMs,
      });
    } else {
      this.logger.log({
        message: 'History in memory (set MONGODB_URI to keep it across restarts)',
        metricSnapshots: memorySnapshotCapacity(snapshotIntervalMs),
        alertTransitions: MEMORY_ALERT_CAPACITY,
        snapshotIntervalMs,
      });
    }
  }

  /** Before the connection closes: one bounded attempt to write what is buffered. */
  async beforeApplicationShutdown(): Promise<void> {
    const flushes = [this.metrics, this.alerts].filter(isFlushable).map((s) => s.flush());
    if (flushes.length === 0) return;
    const timeoutMs = this.config.healthCheckTimeoutMs * 2;
    try {
      await withTimeout(Promise.all(flushes), timeoutMs, `History flush took over ${timeoutMs}ms`);
    } catch (err) {
      this.logger.warn({
        message: 'Buffered history not written before shutdown',
        reason: errorMessage(err),
      });
    }
  }
}
