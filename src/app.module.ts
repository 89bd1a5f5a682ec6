import { Module } from '@nestjs/common';
import { AlertsModule } from './alerts/alerts.module';
import { ClusterModule } from './cluster/cluster.module';
import { ConfigModule } from './config/config.module';
import { ErrorTrackingModule } from './error-tracking/error-tracking.module';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { HistoryModule } from './history/history.module';
import { LifecycleModule } from './lifecycle/lifecycle.module';
import { LoggingModule } from './logging/logging.module';
import { MetricsModule } from './metrics/metrics.module';
import { RealtimeModule } from './realtime/realtime.module';
import { RedisModule } from './redis/redis.module';

@Module({
  imports: [
    ConfigModule,
    LifecycleModule,
    LoggingModule,
    RedisModule,
    DatabaseModule,
    ErrorTrackingModule,
    HealthModule,
    MetricsModule,
    RealtimeModule,
    ClusterModule,
    AlertsModule,
    HistoryModule,
  ],
})
export class AppModule {}
