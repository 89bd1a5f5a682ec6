import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { DatabaseService } from '../database/database.service';
import { MetricsService } from '../metrics/metrics.service';
import { HEALTH_METRIC } from './health.metric-names';

/**
 * mongodb_up, when MONGODB_URI is set. It lives here rather than in DatabaseModule because the database sits
 * below the metrics core; the driver state is read at scrape time, so the gauge needs no timer.
 */
@Injectable()
export class DatabaseMetrics {
  constructor(metrics: MetricsService, database: DatabaseService) {
    if (!database.isConfigured) return;
    new Gauge({
      name: HEALTH_METRIC.mongodbUp,
      help: '1 while the MongoDB connection is open (driver state, read at scrape time), else 0',
      registers: [metrics.registry],
      collect() {
        this.set(database.isConnected ? 1 : 0);
      },
    });
  }
}
